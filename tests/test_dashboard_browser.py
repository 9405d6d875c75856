"""The live dashboard in a real headless Chromium, against a full stack fed by the simulator.

Everything is on with its default schedules (Prometheus, log records, a SQLite audit trail,
alerts, health, the dashboard). The page must load without console errors, its counters
must move while the workload runs and, with emission paused, equal a ``/metrics`` scrape;
an alert provoked through the bus must show up; a screenshot is written for inspection.
"""

from __future__ import annotations

import contextlib
import importlib.util
import threading
import time

import pytest
from chromium import chromium, chromium_paths, console_errors
from conftest import local_config, require
from test_prometheus_scrape import scrape

from aga_otel import AlertRuleConfig
from aga_otel.contract import WorkloadProfile, WorkloadSimulator
from aga_otel.live import dashboard_url

RULE = AlertRuleConfig(name="dashboard_entropy", metric="entropy_mean", operator=">",
                       threshold=5.0, window_seconds=5, severity="critical")  # fmt: skip


@pytest.fixture
def browser():
    browser_path, driver_path = chromium_paths()
    require(browser_path is not None and driver_path is not None,
            "Debian's chromium and chromium-driver (scripts/install-system-deps.sh)")  # fmt: skip
    require(importlib.util.find_spec("selenium") is not None, "selenium (the test extra)")
    with chromium(1400, 1800) as driver:
        yield driver


@contextlib.contextmanager
def generating(plugin, layers: int, seed: int):
    """The simulated model generating at 50 steps/s on a thread until the block ends."""
    sim = WorkloadSimulator(plugin, WorkloadProfile(layers=layers, steps_per_second=50),
                            seed=seed, record=False)  # fmt: skip
    sim.start()
    stop = threading.Event()
    runner = threading.Thread(target=sim.run, args=(None, stop), daemon=True)
    runner.start()
    try:
        yield sim
    finally:
        stop.set()
        runner.join(5)


def wait_until(driver, script: str, timeout: float = 20.0):
    """Poll a JavaScript expression until it is truthy; return its value."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = driver.execute_script("return " + script)
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for: {script}")


READ_METRICS = """return Object.fromEntries([...document.querySelectorAll('[data-metric]')]
    .filter(e => e.dataset.value !== '' && e.dataset.value !== undefined)
    .map(e => [e.dataset.metric, Number(e.dataset.value)]))"""


def page_time(driver) -> float:
    return float(driver.execute_script(
        "return document.getElementById('snapshot-time').dataset.time || '0'") or 0)  # fmt: skip


def test_dashboard_in_chromium_matches_metrics_and_shows_alerts(
    browser, plugin, make_stack, tmp_path
):
    config = local_config(
        health_enabled=True, dashboard_enabled=True, log_enabled=True, alert_enabled=True,
        alert_rules=[RULE], audit_storage_backend="sqlite",
        audit_storage_path=str(tmp_path / "audit.db"), dashboard_verbose=True,
    )  # fmt: skip
    stack = make_stack(plugin.event_bus, config)
    stack.bind_plugin(plugin)
    with generating(plugin, layers=4, seed=5):
        browser.get(dashboard_url(stack, "127.0.0.1"))
        assert browser.title.startswith("AGA live")
        wait_until(browser, "document.body.dataset.updates >= 2")
        assert browser.find_element("id", "status").get_attribute("data-state") == "live"
        first = browser.execute_script(READ_METRICS)["aga_forward_total"]
        wait_until(
            browser,
            f"Number(document.querySelector("
            f"'[data-metric=aga_forward_total]').dataset.value) > {first}",
        )
        identity = browser.find_element("id", "id-model").text
        assert identity == "sim-llama"
    # Emission paused: drain the queue, then compare a snapshot taken after that with a scrape.
    stack.force_flush()
    paused_at = time.time()
    wait_until(browser, f"Number(document.getElementById('snapshot-time').dataset.time) "
                        f"> {paused_at}")  # fmt: skip
    shown = browser.execute_script(READ_METRICS)
    samples = scrape(stack.prometheus.port)
    assert page_time(browser) > paused_at
    assert {"aga_forward_total", "aga_otel_events_received_total", "aga_retrieval_total",
            "aga_audit_operations_total", "aga_knowledge_count"} <= set(shown)  # fmt: skip
    for name, value in shown.items():
        scraped = sum(v for _, v in samples[name])
        assert value == pytest.approx(scraped, rel=1e-9, abs=1e-12), name
    assert shown["aga_forward_total"] > first
    # An uncertain stretch on the bus fires the entropy rule; the page lists it as firing.
    # (It goes on until the page shows it: the rule's window also holds the calm steps
    # emitted before the pause.)
    uncertain = threading.Event()

    def emit_uncertain() -> None:
        while not uncertain.wait(0.2):
            for layer in range(4):
                plugin.event_bus.emit("forward", {"aga_applied": True, "gate_mean": 0.9,
                                                  "entropy_mean": 7.5, "layer_idx": layer,
                                                  "latency_us": 200.0})  # fmt: skip

    threading.Thread(target=emit_uncertain, daemon=True).start()
    try:
        row = wait_until(browser, "document.querySelector("
                                  "'#alerts tr[data-rule=dashboard_entropy][data-state=firing]')",
                         timeout=30)  # fmt: skip
    finally:
        uncertain.set()
    assert "critical" in row.text
    assert browser.find_element("id", "health-status").text in ("healthy", "degraded")
    assert browser.find_elements("css selector", "#audit tr td")  # the audit tail is shown
    shot = tmp_path / "dashboard.png"
    assert browser.save_screenshot(str(shot))
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 20_000
    print(f"screenshot: {shot}")
    assert console_errors(browser) == []


def test_a_first_view_in_chromium_receives_the_history(browser, plugin, make_stack):
    """Traffic while nobody watches; the page opened afterwards gets those points first."""
    stack = make_stack(plugin.event_bus, local_config(health_enabled=True, dashboard_enabled=True))
    stack.dashboard_history.every = 0.2  # 5 s in production
    with generating(plugin, layers=2, seed=3):
        deadline = time.monotonic() + 30
        while stack.dashboard_history.samples < 4:
            assert time.monotonic() < deadline, "no history sampled"
            time.sleep(0.1)
    stack.bridge.sync(5.0)  # every batch handed over: no sample comes after this
    kept = len(stack.dashboard_history.history)
    browser.get(dashboard_url(stack, "127.0.0.1"))
    shown = int(wait_until(browser, "document.body.dataset.history"))
    assert 4 <= shown <= kept  # (the page drops points older than 5 minutes, none here)
    wait_until(browser, "document.body.dataset.updates >= 1")
    assert not console_errors(browser)
