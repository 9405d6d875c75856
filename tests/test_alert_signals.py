"""Alert metrics derived from real cumulative snapshots: windows, no-data, resets."""

from __future__ import annotations

import pytest
from test_alert_support import Clock, Instruments

from aga_otel.alerts.signals import SIGNALS, evaluate, source_keys
from aga_otel.alerts.snapshot import SnapshotHistory, snapshot_from
from aga_otel.config import ALERT_METRICS


class Stream:
    """Instruments + a snapshot history fed every ``step`` seconds."""

    def __init__(self, horizon: float = 120.0) -> None:
        self.inst, self.clock = Instruments(), Clock()
        self.history = SnapshotHistory(horizon, start=self.clock())

    def tick(self, seconds: float = 5.0) -> None:
        self.clock.advance(seconds)
        self.history.add(snapshot_from(self.inst.collect(), source_keys(), self.clock()))

    def value(self, metric: str, window: float = 60.0):
        return evaluate(metric, self.history.window(window))


def test_every_alert_metric_has_a_signal():
    assert set(SIGNALS) == set(ALERT_METRICS)


@pytest.mark.parametrize("metric", ALERT_METRICS)
def test_no_data_is_none_not_zero(metric):
    s = Stream()
    s.tick()
    assert s.value(metric) is None


def test_histogram_means_and_latency():
    s = Stream()
    for v in (0.2, 0.4, 0.6):
        s.inst.record("gate_value", v)
        s.inst.record("entropy_value", v * 10, layer=3)
    s.inst.record("forward_duration", 0.0002)
    s.tick()
    assert s.value("gate_mean") == pytest.approx(0.4)
    assert s.value("entropy_mean") == pytest.approx(4.0)
    assert 0.0001 < s.value("latency_p50_seconds") <= 0.00025
    assert 100 < s.value("latency_p50") <= 250  # 1.0's unit: µs


def test_windows_only_see_recent_observations():
    s = Stream()
    s.inst.record("gate_value", 0.9)
    s.tick(5)
    for _ in range(13):  # 65 s with gate 0.1 only
        s.inst.record("gate_value", 0.1)
        s.tick(5)
    assert s.value("gate_mean", window=60) == pytest.approx(0.1)
    assert s.value("gate_mean", window=120) == pytest.approx((0.9 + 13 * 0.1) / 14)


def test_quiet_window_after_activity_is_no_data():
    s = Stream()
    s.inst.record("forward_duration", 0.002)
    s.tick(5)
    for _ in range(13):
        s.tick(5)
    assert s.value("latency_p99", window=60) is None


def test_gauges_average_over_the_window():
    s = Stream()
    s.tick()
    assert s.value("knowledge_utilization") is None  # no plugin bound yet
    for v in (0.9, 1.0, 0.95, 1.0):
        s.inst.set("knowledge_utilization", v)
        s.tick()
    assert s.value("knowledge_utilization", window=20) == pytest.approx(0.9625)
    assert s.value("knowledge_utilization", window=10) == pytest.approx(0.975)


def test_retrieval_failure_rate_is_share_not_injected():
    s = Stream()
    s.tick()
    assert s.value("retrieval_failure_rate") is None  # no retrieval: nothing failed
    s.inst.add("retrieval_results", 40, layer=1)
    s.inst.add("retrieval_injected", 10, layer=1)
    s.inst.add("retrieval_results", 10, layer=2)  # nothing injected on layer 2
    s.tick()
    assert s.value("retrieval_failure_rate") == pytest.approx(1 - 10 / 50)


def test_events_dropped_rate_is_per_second():
    s = Stream()
    s.inst.add("events_dropped", 0, reason="queue_full")
    s.tick(10)
    s.inst.add("events_dropped", 30, reason="queue_full")
    s.inst.add("events_dropped", 10, reason="malformed")
    s.tick(10)
    assert s.value("events_dropped_rate", window=10) == pytest.approx(4.0)


def test_counter_restart_counts_from_zero():
    s = Stream()
    s.inst.add("events_dropped", 100, reason="queue_full")
    s.tick(10)
    # A new provider (process restart) starts the cumulative total again.
    s.inst = Instruments()
    s.inst.add("events_dropped", 20, reason="queue_full")
    s.tick(10)
    assert s.value("events_dropped_rate", window=10) == pytest.approx(2.0)
