"""Health checks: results, plugin checks, pipeline checks and the check runner."""

from __future__ import annotations

import math
import threading
import time

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader

from aga_otel import semconv
from aga_otel.contract import SimulatedConfig, SimulatedPlugin
from aga_otel.health.pipeline_checks import (
    DropRateTracker,
    check_queue,
    check_worker,
    component_result,
)
from aga_otel.health.plugin_checks import plugin_checks
from aga_otel.health.pool import DaemonPool
from aga_otel.health.result import CheckResult, normalize, redact, safe_data
from aga_otel.health.runner import CheckRunner
from aga_otel.status import Status


def run_plugin_checks(plugin) -> dict[str, CheckResult]:
    return {name: fn() for name, fn in plugin_checks(lambda: plugin).items()}


# --- results ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("value", "status"),
    [
        (True, Status.HEALTHY),
        (False, Status.UNHEALTHY),
        (None, Status.HEALTHY),
        (Status.DEGRADED, Status.DEGRADED),
        (("degraded", "slow"), Status.DEGRADED),
        ({"status": "unhealthy", "detail": "x", "n": 1}, Status.UNHEALTHY),
        (CheckResult.degraded("d"), Status.DEGRADED),
        ("fine", Status.UNHEALTHY),  # unsupported return value: visible, not green
        ({"status": "bogus"}, Status.UNHEALTHY),
    ],
)
def test_normalize(value, status):
    assert normalize(value).status is status


@pytest.mark.parametrize(
    ("text", "leak"),
    [
        ("POST https://hooks.slack.com/services/T0/B0/SECRETXYZ failed", "SECRETXYZ"),
        ("connect http://user:hunter2@collector:4318/v1/metrics", "hunter2"),
        ("auth failed: token=abc123def", "abc123def"),
        ("header Authorization: Bearer s3cr3t", "s3cr3t"),
        ("api_key: k-999", "k-999"),
    ],
)
def test_redact_removes_credentials(text, leak):
    out = redact(text)
    assert leak not in out
    assert "<redacted>" in out


def test_redact_keeps_host_and_bounds_length():
    assert redact("POST http://collector:4318/v1/logs timed out") == (
        "POST http://collector:4318/<redacted> timed out"
    )
    assert redact("no route to http://collector:4318.") == "no route to http://collector:4318."
    assert redact("invalid token for collector") == "invalid token for collector"
    assert len(redact("x" * 10_000)) == 200
    assert "\n" not in redact("Traceback:\n  File x\nValueError")


def test_safe_data_keeps_json_scalars_only():
    data = safe_data(
        {"n": 3, "f": 0.5, "nan": math.nan, "inf": math.inf, "ok": True, "none": None,
         "s": "x" * 500, "obj": object(), "ids": ["a", "b"], "nested": {"a": 1, "o": object()}}
    )  # fmt: skip
    assert data == {"n": 3, "f": 0.5, "nan": None, "inf": None, "ok": True, "none": None,
                    "s": "x" * 64, "nested": {"a": 1}}  # fmt: skip


# --- plugin checks ------------------------------------------------------------------------
def test_unbound_plugin_is_skipped_not_failed():
    results = {name: fn() for name, fn in plugin_checks(lambda: None).items()}
    assert len(results) == 5
    for r in results.values():
        assert r.status is Status.HEALTHY and r.skipped and r.detail == "plugin not bound"


def test_healthy_attached_plugin():
    plugin = SimulatedPlugin()
    plugin.attach("llama", 32)
    results = run_plugin_checks(plugin)
    assert {n: r.status for n, r in results.items()} == dict.fromkeys(results, Status.HEALTHY)
    assert results["plugin.attachment"].data == {"attached": True, "hooks": 32}
    assert results["plugin.event_bus"].data["buffer_capacity"] == 10000


@pytest.mark.parametrize(
    ("count", "status"),
    [(0, Status.HEALTHY), (95, Status.HEALTHY), (96, Status.DEGRADED), (100, Status.UNHEALTHY)],
)
def test_store_utilisation_thresholds(count, status):
    plugin = SimulatedPlugin(SimulatedConfig(max_slots=100))
    for i in range(count):
        plugin.add_knowledge(f"k{i}")
    result = run_plugin_checks(plugin)["plugin.knowledge_store"]
    assert result.status is status
    assert result.data["count"] == count


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_gate_parameters_nan_or_inf_unhealthy(bad):
    plugin = SimulatedPlugin()
    plugin.gate_system.weights.values[1] = bad
    result = run_plugin_checks(plugin)["plugin.gate"]
    assert result.status is Status.UNHEALTHY
    assert "not finite" in result.detail


def test_detached_plugin_and_disabled_bus_degraded():
    plugin = SimulatedPlugin()
    plugin.event_bus.enabled = False
    results = run_plugin_checks(plugin)
    assert results["plugin.attachment"].status is Status.DEGRADED
    assert results["plugin.event_bus"].status is Status.DEGRADED


def test_older_plugin_without_surface_is_skipped():
    class OldPlugin:  # another aga-core version: none of the introspection surface
        pass

    results = run_plugin_checks(OldPlugin())
    assert all(r.status is Status.HEALTHY and r.skipped for r in results.values())
    assert "not provided" in results["plugin.knowledge_store"].detail


def test_plugin_method_that_raises_propagates_to_the_runner():
    plugin = SimulatedPlugin()

    def boom():
        raise RuntimeError("store locked")

    plugin.get_store_stats = boom
    runner = CheckRunner(timeout=1.0)
    for name, fn in plugin_checks(lambda: plugin).items():
        runner.add(name, fn)
    results = runner.run()
    runner.shutdown()
    store, _ = results["plugin.knowledge_store"]
    assert store.status is Status.UNHEALTHY
    assert store.detail == "check raised RuntimeError: store locked"
    assert results["plugin.gate"][0].status is Status.HEALTHY


# --- pipeline checks ----------------------------------------------------------------------
def test_worker_and_queue_checks():
    ok = {"worker_alive": True, "subscribed": True, "queue_depth": 10, "queue_capacity": 100}
    assert check_worker(lambda: ok).status is Status.HEALTHY
    assert check_worker(lambda: {**ok, "worker_alive": False}).status is Status.UNHEALTHY
    assert check_worker(lambda: {**ok, "subscribed": False}).status is Status.DEGRADED
    assert check_queue(lambda: ok).status is Status.HEALTHY
    assert check_queue(lambda: {**ok, "queue_depth": 95}).status is Status.DEGRADED


class Counters:
    """The bridge's counters on a real MeterProvider, read back as real snapshots."""

    def __init__(self) -> None:
        self.reader = InMemoryMetricReader()
        meter = MeterProvider(metric_readers=[self.reader]).get_meter(semconv.METER_NAME)
        self.received = meter.create_counter(semconv.metric("events_received").name)
        self.dropped = meter.create_counter(semconv.metric("events_dropped").name)

    def add(self, received: int, **dropped: int):
        self.received.add(received)
        for reason, n in dropped.items():
            self.dropped.add(n, {semconv.ATTR_REASON: reason})
        return self.reader.get_metrics_data()


def test_drop_rate_from_snapshot_deltas():
    now = [0.0]
    tracker = DropRateTracker(window=60.0, clock=lambda: now[0])
    counters = Counters()
    assert "no drop rate yet" in tracker.check().detail
    tracker.observe(counters.add(1000, queue_full=500))  # history before the window
    now[0] = 5.0
    tracker.observe(counters.add(1000, queue_full=5, malformed=300))
    result = tracker.check()
    assert result.status is Status.HEALTHY  # 0.5 % full drops; malformed do not count
    assert result.data["drop_rate"] == pytest.approx(0.005)
    assert result.data["dropped"] == {"queue_full": 5, "malformed": 300}
    now[0] = 10.0
    tracker.observe(counters.add(1000, queue_full=95))
    assert tracker.check().status is Status.DEGRADED  # 100 / 2000
    now[0] = 15.0
    tracker.observe(counters.add(1000, queue_full=2000))
    assert tracker.check().status is Status.UNHEALTHY
    now[0] = 200.0  # everything older than the window is forgotten
    tracker.observe(counters.add(1000))
    now[0] = 205.0
    tracker.observe(counters.add(1000))
    assert tracker.check().status is Status.HEALTHY


def test_component_result_maps_status_board_entries():
    state = {"status": "degraded", "detail": "export failed", "failures": 2}
    result = component_result(state)
    assert result.status is Status.DEGRADED and result.data == {"failures": 2}
    assert component_result({"status": "???"}).status is Status.UNHEALTHY


# --- the runner -----------------------------------------------------------------------------
def test_hanging_check_times_out_and_is_not_restarted():
    release = threading.Event()
    calls = []

    def hang():
        calls.append(1)
        release.wait(10)

    runner = CheckRunner(timeout=0.2)
    runner.add("hangs", hang)
    runner.add("fine", lambda: True)
    t0 = time.monotonic()
    first = runner.run()
    assert time.monotonic() - t0 < 5  # bounded by the timeout, not by the check
    assert first["hangs"][0].status is Status.UNHEALTHY
    assert "timed out" in first["hangs"][0].detail
    assert first["fine"][0].status is Status.HEALTHY
    second = runner.run()
    assert "has not returned" in second["hangs"][0].detail
    assert len(calls) == 1  # a hung check ties up one worker, not one per run
    release.set()
    deadline = time.monotonic() + 5
    while runner.run()["hangs"][0].status is not Status.HEALTHY:
        assert time.monotonic() < deadline
    runner.shutdown()


def test_runner_rejects_bad_and_duplicate_names():
    runner = CheckRunner()
    runner.add("a", lambda: True)
    with pytest.raises(ValueError):
        runner.add("a", lambda: True)
    with pytest.raises(ValueError):
        runner.add("", lambda: True)
    with pytest.raises(TypeError):
        runner.add("b", "not callable")
    runner.shutdown()


def test_daemon_pool_runs_everything_and_idles_out():
    pool = DaemonPool(max_workers=4, idle_timeout=0.1)
    futures = []
    lock = threading.Lock()

    def submit_many():
        for i in range(100):
            fut = pool.submit(lambda i=i: i * 2)
            with lock:
                futures.append((i, fut))

    submitters = [threading.Thread(target=submit_many) for _ in range(8)]
    for t in submitters:
        t.start()
    for t in submitters:
        t.join()
    assert all(fut.result(timeout=10) == i * 2 for i, fut in futures)
    assert len(futures) == 800
    assert 1 <= pool.threads <= 4
    deadline = time.monotonic() + 10
    while pool.threads:  # idle workers leave: an idle process holds no health threads
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert pool.submit(lambda: "again").result(timeout=10) == "again"
    pool.shutdown()
    with pytest.raises(RuntimeError):
        pool.submit(lambda: None).result(timeout=1)
