"""1.0 alerting code that emits and then reads: the alert is there, with nothing on emit.

1.0 evaluated every rule inside ``emit()``, so ``get_alerts()`` right after the breaching
event showed the alert. aga-otel evaluates off the emitting thread; its 1.0 face evaluates
on read, after handing over what was emitted before the call. These tests read at once,
with no wait between emit and read, on the contract bus: standalone managers (their own
minimal stack) and the manager of a 1.0 ``ObservabilityStack``.
"""

from __future__ import annotations

import threading

import pytest
from conftest import wait_for
from test_compat_alerts import manager  # noqa: F401
from test_integration_support import isolated  # noqa: F401

from aga_observability import AlertManager, AlertRule, ObservabilityConfig, ObservabilityStack
from aga_observability.config import AlertRuleConfig
from aga_otel.alerts.snapshot import Snapshot, SnapshotHistory
from aga_otel.contract import EventBus, SimulatedPlugin

pytestmark = pytest.mark.usefixtures("isolated")


def forward(bus, latency_us=20.0, entropy=1.0, layer=0):
    bus.emit("forward", {"aga_applied": True, "gate_mean": 0.5, "entropy_mean": entropy,
                         "layer_idx": layer, "latency_us": latency_us})  # fmt: skip


@pytest.fixture
def make(manager):  # noqa: F811 - the fixture imported above
    """``make(*rules)``: a standalone manager with these rules only (shut down after)."""
    return lambda *rules, use_defaults=False: manager(rules=list(rules), use_defaults=use_defaults)


def test_the_issue_s_example_emit_then_read(make):
    bus = EventBus()
    alerts = make(AlertRule(name="any_latency", metric="latency_p99", operator=">",
                               threshold=0))  # fmt: skip
    alerts.subscribe(bus)
    assert alerts.get_alerts() == []
    bus.emit("forward", {"aga_applied": True, "gate_mean": 0.5, "entropy_mean": 1.0,
                         "layer_idx": 0, "latency_us": 100})  # fmt: skip
    (alert,) = alerts.get_alerts()
    assert alert["rule_name"] == "any_latency" and alert["metric"] == "latency_p99"
    assert 0 < alert["value"] <= 100  # µs, interpolated in aga-otel's bucket
    stats = alerts.get_stats()
    assert stats["total_alerts"] == 1 and stats["by_severity"]["warning"] == 1
    assert stats["active_metrics"] == ["latency_p99"]


def test_each_read_sees_the_event_just_emitted_and_nothing_earlier_fires(make):
    """A 1.0 generation loop that checks alerts after every step."""
    bus = EventBus()
    alerts = make(AlertRule(name="hot", metric="entropy_mean", threshold=5.0))
    alerts.subscribe(bus)
    seen_at = None
    for step in range(300):
        forward(bus, entropy=7.0 if step == 211 else 1.0, layer=step % 4)
        if alerts.get_alerts() and seen_at is None:
            seen_at = step
    assert seen_at == 211
    assert len(alerts.get_alerts()) == 1  # one breach, one alert (cooldown 300 s)


def test_a_burst_of_several_worker_passes_is_all_evaluated(make):
    bus = EventBus()
    alerts = make(AlertRule(name="hot", metric="entropy_mean", threshold=5.0))
    alerts.subscribe(bus)
    for i in range(20000):  # the worker takes a bounded batch per pass: several passes
        forward(bus, entropy=1.0, layer=i % 32)
    forward(bus, entropy=7.5)  # the last event emitted is the breach
    (alert,) = alerts.get_alerts()
    assert alert["value"] == 7.5


def test_the_manager_of_a_1_0_stack_evaluates_on_read(tmp_path):
    bus = EventBus()
    config = ObservabilityConfig(
        prometheus_enabled=False, health_enabled=False, log_enabled=False,
        alert_rules=[AlertRuleConfig(name="custom_high_entropy", metric="entropy_mean",
                                     operator=">", threshold=5.0, severity="critical",
                                     message="Entropy too high: {value:.2f}")],
    )  # fmt: skip
    stack = ObservabilityStack(event_bus=bus, config=config)
    stack.start()
    try:
        forward(bus, entropy=6.25)
        (alert,) = stack.alert_manager.get_alerts(severity="critical")
        assert alert["message"] == "Entropy too high: 6.25"
        assert stack.get_stats()["alert_manager"]["total_alerts"] == 1
    finally:
        stack.shutdown()


def test_plugin_rules_are_evaluated_on_read_too(make):
    plugin = SimulatedPlugin()
    for i in range(250):
        plugin.add_knowledge(f"k{i}")  # 250 of 256 slots: utilization 0.98
    alerts = make(use_defaults=True)  # 1.0's defaults: high_utilization > 0.95
    alerts.update_plugin_metrics(plugin)
    alerts.subscribe(plugin.event_bus)
    assert "high_utilization" in {a["rule_name"] for a in alerts.get_alerts()}


class Calls:
    """What each callback saw, and on which thread it ran."""

    def __init__(self) -> None:
        self.events: list = []
        self.threads: list[str] = []

    def __call__(self, event) -> None:
        self.threads.append(threading.current_thread().name)
        self.events.append(event)


def breach_emitted_elsewhere(make) -> tuple[AlertManager, Calls]:
    """A manager whose rule was breached by an event emitted on a thread called "model"."""
    bus = EventBus()
    alerts = make(AlertRule(name="hot", metric="entropy_mean", threshold=5.0))
    calls = Calls()
    alerts.add_callback(calls)
    alerts.subscribe(bus)
    emitter = threading.Thread(target=lambda: forward(bus, entropy=7.0), name="model")
    emitter.start()
    emitter.join()
    return alerts, calls


def test_callbacks_fire_within_an_interval_and_never_on_the_emitting_thread(make):
    alerts, calls = breach_emitted_elsewhere(make)
    # Nobody reads: the engine's own evaluation delivers it (the one timing difference).
    assert wait_for(lambda: len(calls.events) == 1)
    assert calls.threads == ["aga-otel-alerts"]
    assert len(alerts.get_alerts()) == 1  # delivered once, whoever evaluated


def test_a_read_delivers_to_the_callbacks_on_the_reading_thread_once(make):
    alerts, calls = breach_emitted_elsewhere(make)
    assert len(alerts.get_alerts()) == 1
    # Evaluated by this read, or by the engine's interval just before it; never by "model".
    assert len(calls.events) == 1 and calls.threads[0] in ("MainThread", "aga-otel-alerts")
    assert wait_for(lambda: alerts.get_stats()["total_alerts"] == 1)
    assert len(calls.events) == 1


def test_a_callback_that_reads_the_manager_does_not_deadlock(make):
    bus = EventBus()
    alerts = make(AlertRule(name="hot", metric="entropy_mean", threshold=5.0))
    seen = []
    alerts.add_callback(lambda e: seen.append((len(alerts.get_alerts()), alerts.get_stats())))
    alerts.subscribe(bus)
    forward(bus, entropy=7.0)
    reader = threading.Thread(target=alerts.get_alerts, daemon=True)
    reader.start()
    reader.join(10)
    assert not reader.is_alive()
    assert wait_for(lambda: len(seen) == 1) and seen[0][0] == 1


def test_a_manager_never_subscribed_answers_without_starting_anything(make):
    before = {t.name for t in threading.enumerate()}
    alerts = make(use_defaults=True)
    assert alerts.get_alerts() == [] and alerts.get_stats()["rules_count"] == 4
    assert {t.name for t in threading.enumerate()} == before


def test_history_stays_bounded_and_the_last_interval_exact_under_fast_reads():
    """Evaluations on read add snapshots much faster than the interval."""
    history = SnapshotHistory(horizon=61.0, start=0.0, min_spacing=0.25)
    t = 0.0
    for _ in range(60000):  # a read every millisecond for a minute
        t += 0.001
        history.add(Snapshot(t))
        assert history.last_interval().baseline.timestamp == pytest.approx(t - 0.001)
    assert len(history) <= 2 * 61.0 / 0.25 + 4
    view = history.window(30.0)
    assert 30.0 <= view.seconds <= 30.0 + 2 * 0.25  # a coarser baseline, never a shorter one
    paced = SnapshotHistory(horizon=61.0, start=0.0, min_spacing=0.25)
    for i in range(1, 101):  # the engine's own cadence (0.5 s) is never thinned
        paced.add(Snapshot(i * 0.5))
    assert len(paced) == 101


def test_readers_on_many_threads_and_the_engine_deliver_each_firing_once(make):
    bus = EventBus()
    alerts = make(AlertRule(name="hot", metric="entropy_mean", threshold=5.0))
    calls = Calls()
    alerts.add_callback(calls)
    alerts.subscribe(bus)
    go = threading.Event()

    def read() -> None:
        go.wait()
        for _ in range(100):
            alerts.get_alerts()
            alerts.get_stats()

    readers = [threading.Thread(target=read, name=f"reader-{i}") for i in range(4)]
    for r in readers:
        r.start()
    go.set()
    for i in range(400):
        forward(bus, entropy=7.0 if i == 150 else 1.0)
    for r in readers:
        r.join(30)
    assert len(alerts.get_alerts()) == 1 and len(calls.events) == 1
