"""The alert engine's direct inputs equal what a metric snapshot gives, and stay fresh.

The engine reads its totals from the components (``aga_otel.alerts.inputs``) instead of
collecting a snapshot every 0.5 s; these tests hold both readings of the same state side by
side, in the full stack as users run it, and check that rules on every kind of input still
fire within the default schedules.
"""

from __future__ import annotations

import threading

import pytest
from conftest import local_config, simulate, wait_for

from aga_otel import AlertRuleConfig
from aga_otel.alerts.signals import source_keys
from aga_otel.alerts.snapshot import snapshot_from
from aga_otel.bridge import EventBridge
from aga_otel.contract import EventBus


def full_config(**overrides):
    return local_config(alert_enabled=True, health_enabled=True, log_enabled=True, **overrides)


def test_inputs_equal_the_snapshot_totals(make_stack, plugin):
    stack = make_stack(plugin.event_bus, full_config())
    stack.bind_plugin(plugin)
    simulate(plugin, steps=300, retrieval_probability=0.5)
    plugin.event_bus.emit("forward", {"layer_idx": "bad"})  # a malformed one: events_dropped
    plugin.event_bus.emit(
        "forward",
        {
            "aga_applied": True,
            "gate_mean": 0.5,
            "layer_idx": 3,
            "entropy_mean": 2,
            "latency_us": 10,
        },
    )  # ints: slow path
    assert stack.bridge.drain(10)
    keys = source_keys()
    direct = stack.alert_inputs(123.0)
    via_snapshot = snapshot_from(stack.reader.snapshot(), keys, 123.0)
    assert set(direct.histograms) == set(via_snapshot.histograms) == {
        "forward_duration", "gate_value", "entropy_value"}  # fmt: skip
    for key, h in via_snapshot.histograms.items():
        d = direct.histograms[key]
        assert d == h  # bounds, bucket counts, count, sum (added layer by layer), min, max
    assert direct.counters == via_snapshot.counters
    assert direct.counters["events_dropped"] >= 1
    assert direct.counters["retrieval_results"] > 0
    assert direct.gauges == via_snapshot.gauges
    assert {"activation_rate", "knowledge_count", "knowledge_utilization"} <= set(direct.gauges)


def test_inputs_before_any_event_are_as_empty_as_a_snapshot(make_stack, plugin):
    stack = make_stack(plugin.event_bus, full_config())
    direct = stack.alert_inputs(1.0)
    via_snapshot = snapshot_from(stack.reader.snapshot(), source_keys(), 1.0)
    assert direct.histograms == via_snapshot.histograms == {}
    assert direct.counters == via_snapshot.counters == {"events_dropped": 0.0}
    assert direct.gauges == via_snapshot.gauges


def test_rules_on_every_kind_of_input_fire_in_the_full_stack(make_stack, plugin):
    """Latency (forward aggregator), retrieval failures (recorder counters), knowledge
    count (plugin readings) and drops (bridge): each rule fires on default schedules."""
    rules = [
        AlertRuleConfig(name="slow", metric="latency_p99_seconds", operator=">",
                        threshold=0.01, window_seconds=30),
        AlertRuleConfig(name="misses", metric="retrieval_failure_rate", operator=">",
                        threshold=0.9, window_seconds=30),
        AlertRuleConfig(name="store", metric="knowledge_count", operator=">=",
                        threshold=0, window_seconds=30),
        AlertRuleConfig(name="drops", metric="events_dropped_rate", operator=">",
                        threshold=0, window_seconds=30),
    ]  # fmt: skip
    stack = make_stack(plugin.event_bus, full_config(alert_rules=rules))
    stack.bind_plugin(plugin)
    fired: set[str] = set()
    lock = threading.Lock()

    def collect(alert):
        with lock:
            fired.add(alert.rule_name)

    stack.alert_manager.add_callback(collect)
    bus = plugin.event_bus
    bus.emit("forward", {"aga_applied": True, "gate_mean": 0.5, "entropy_mean": 1.0,
                         "layer_idx": 0, "latency_us": 2e6})  # 2 s in one layer  # fmt: skip
    bus.emit("retrieval", {"layer_idx": 0, "results_count": 5, "injected_count": 0})
    bus.emit("forward", {"layer_idx": -1})  # malformed: dropped
    assert wait_for(lambda: fired >= {"slow", "misses", "store", "drops"}, timeout=15), fired


class Collect:
    """A sink that keeps every event it is handed."""

    name = "collect"

    def __init__(self) -> None:
        self.seen: list = []

    def handle_batch(self, events) -> None:
        self.seen.extend(events)


def test_sync_hands_what_is_queued_to_the_sinks_before_returning():
    sink, bus = Collect(), EventBus()
    seen = sink.seen
    bridge = EventBridge([sink], interval=60.0)  # its own cadence never comes
    bridge.subscribe(bus)
    assert not bridge.sync(0.1)  # not started: nothing to wait for
    bridge.start()
    try:
        assert wait_for(lambda: bridge.sync(0.5))  # the first pass found nothing
        for i in range(5):
            bus.emit("forward", {"layer_idx": i})
        assert bridge.sync(5.0)
        assert len(seen) == 5
        assert bridge.sync(0.5)  # nothing queued: at once
    finally:
        bridge.stop(5.0)
    assert not bridge.sync(0.1)


def test_a_burst_wakes_the_worker_before_its_cadence():
    sink, bus = Collect(), EventBus()
    seen = sink.seen
    bridge = EventBridge([sink], queue_size=80, interval=60.0)  # high water: 10 events
    bridge.subscribe(bus)
    bridge.start()
    try:
        assert wait_for(lambda: bridge.sync(0.5))
        for i in range(5):
            bus.emit("forward", {"layer_idx": i})
        with pytest.raises(AssertionError, match="timed out"):  # below the mark: the
            wait_for(lambda: seen, timeout=0.5)  # cadence decides, nothing is handed over
        for i in range(6):
            bus.emit("forward", {"layer_idx": i})
        assert wait_for(lambda: len(seen) == 11, timeout=10)
    finally:
        bridge.stop(5.0)
