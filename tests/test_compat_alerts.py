"""1.0 alerting on real events through a contract EventBus: units, latency, cooldown.

Behaviour is asserted with generous waits, never timings: the engine evaluates every
``alert_evaluation_interval`` (0.5 s by default), so "reported within 1 s" shows up as a
callback well inside the waits below on an idle machine.
"""

from __future__ import annotations

import threading
import time

import pytest

from aga_observability import AlertManager, AlertRule, AlertSeverity
from aga_observability.alert_manager import AlertEvent
from aga_otel import AlertRuleConfig as OtelRuleConfig
from aga_otel.config import ConfigError
from aga_otel.contract import EventBus


def forward(bus, latency_us=20.0, entropy=1.0, gate=0.5, layer=0):
    bus.emit("forward", {"aga_applied": True, "gate_mean": gate, "entropy_mean": entropy,
                         "layer_idx": layer, "latency_us": latency_us})  # fmt: skip


class Collected:
    def __init__(self) -> None:
        self.events: list[AlertEvent] = []
        self._cond = threading.Condition()

    def __call__(self, event: AlertEvent) -> None:
        with self._cond:
            self.events.append(event)
            self._cond.notify_all()

    def wait(self, n: int = 1, timeout: float = 10.0) -> list[AlertEvent]:
        with self._cond:
            self._cond.wait_for(lambda: len(self.events) >= n, timeout)
            return list(self.events)


@pytest.fixture
def manager():
    managers = []

    def make(**kw):
        m = AlertManager(**kw)
        managers.append(m)
        return m

    yield make
    for m in managers:
        m.shutdown()


def test_standalone_manager_fires_on_a_1_0_latency_rule_in_microseconds(manager):
    bus = EventBus()
    alerts = manager(rules=[AlertRule(name="slow", metric="latency_p99", threshold=1000,
                                      severity=AlertSeverity.CRITICAL)],
                     use_defaults=False)  # fmt: skip
    got = Collected()
    alerts.add_callback(lambda e: 1 / 0)  # a raising callback is ignored
    alerts.add_callback(got)
    alerts.subscribe(bus)
    for i in range(50):
        forward(bus, latency_us=500.0, layer=i % 4)  # 0.5 ms: below 1000 µs
    time.sleep(1.2)
    assert got.events == []
    for i in range(50):
        forward(bus, latency_us=2000.0, layer=i % 4)  # 2 ms
    (event,) = got.wait()
    assert (event.rule_name, event.metric, event.threshold) == ("slow", "latency_p99", 1000)
    assert 1000 < event.value <= 2500 and event.severity == "critical"
    alerts_seen = alerts.get_alerts()
    assert alerts_seen[0]["severity"] == "critical" and alerts_seen[0]["rule_name"] == "slow"
    assert set(alerts_seen[0]) == {"rule_name", "metric", "value", "threshold", "severity",
                                   "message", "timestamp"}  # fmt: skip
    stats = alerts.get_stats()
    assert stats["rules_count"] == 1 and stats["total_alerts"] == 1
    assert stats["by_severity"]["critical"] == 1 and stats["callbacks_count"] == 2
    assert "latency_p99" in stats["active_metrics"]


def test_a_single_breaching_event_among_normal_ones_is_caught(manager):
    """1.0 evaluated entropy_mean per event: one hot step fires, whatever surrounds it."""
    bus = EventBus()
    alerts = manager(use_defaults=False)
    alerts.add_rule(AlertRule(name="custom_high_entropy", metric="entropy_mean", threshold=5.0,
                              message="Entropy too high: {value:.2f}"))  # fmt: skip
    alerts.add_rule(AlertRule(name="low_gate", metric="gate_mean", operator="<", threshold=0.1))
    got = Collected()
    alerts.add_callback(got)
    alerts.subscribe(bus)
    for i in range(500):
        forward(bus, entropy=6.5 if i == 250 else 1.0, gate=0.05 if i == 100 else 0.5)
    events = got.wait(2)
    by_rule = {e.rule_name: e for e in events}
    assert by_rule["custom_high_entropy"].value > 5.0
    assert by_rule["custom_high_entropy"].message.startswith("Entropy too high: ")
    assert by_rule["low_gate"].value < 0.1


def test_one_alert_per_cooldown_while_the_breach_persists(manager):
    bus = EventBus()
    alerts = manager(use_defaults=False)
    alerts.add_rule(AlertRule(name="hot", metric="entropy_mean", threshold=5.0,
                              cooldown_seconds=1.0))  # fmt: skip
    got = Collected()
    alerts.add_callback(got)
    alerts.subscribe(bus)
    deadline = time.monotonic() + 10
    while len(got.events) < 2 and time.monotonic() < deadline:
        forward(bus, entropy=7.0)  # the breach lasts
        time.sleep(0.05)
    events = got.wait(2, timeout=0)
    assert len(events) >= 2
    assert events[1].timestamp - events[0].timestamp >= 1.0  # not more often than the cooldown


def test_remove_rule_and_update_plugin_metrics(manager):
    from aga_otel.contract import SimulatedPlugin

    alerts = manager()  # 1.0's four default rules
    assert alerts.get_stats()["rules_count"] == 4
    assert alerts.remove_rule("slo_latency_critical") is True
    assert alerts.remove_rule("slo_latency_critical") is False
    plugin = SimulatedPlugin()
    for i in range(250):
        plugin.add_knowledge(f"k{i}")  # 250 of 256 slots: utilization 0.98
    got = Collected()
    alerts.add_callback(got)
    alerts.update_plugin_metrics(plugin)
    alerts.subscribe(plugin.event_bus)
    names = {e.rule_name for e in got.wait(1)}
    assert "high_utilization" in names
    assert alerts.get_stats()["rules_count"] == 3


def test_units_are_the_metric_name_s_on_both_import_paths():
    # aga-otel's own API: latency_p99 is 1.0's µs; a seconds threshold is refused, not
    # silently read as nanoseconds, and the _seconds name keeps seconds.
    with pytest.raises(ConfigError, match="latency_p99_seconds"):
        OtelRuleConfig(name="r", metric="latency_p99", threshold=0.001)
    assert OtelRuleConfig(name="r", metric="latency_p99_seconds", threshold=0.001).threshold
    assert OtelRuleConfig(name="r", metric="latency_p99", threshold=1000).semantics == "otel"
    from aga_observability.config import AlertRuleConfig

    assert AlertRuleConfig(name="r", metric="latency_p99", threshold=1000).semantics == "1.0"
