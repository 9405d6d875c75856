"""Every metric of the table, through a real MeterProvider + InMemoryMetricReader,
equals what the simulator emitted."""

from collections import Counter

import pytest
from conftest import local_config, simulate
from opentelemetry.sdk.metrics.export import InMemoryMetricReader

from aga_otel import semconv as sc


def collect(reader: InMemoryMetricReader) -> dict:
    """metric name -> list of (attributes dict, point)."""
    out: dict = {}
    for rm in reader.get_metrics_data().resource_metrics:
        for sm in rm.scope_metrics:
            for m in sm.metrics:
                out.setdefault(m.name, []).extend(
                    (dict(p.attributes), p) for p in m.data.data_points
                )
    return out


def name(key: str) -> str:
    return sc.metric(key).name


@pytest.fixture
def observed(plugin, make_stack):
    reader = InMemoryMetricReader()
    stack = make_stack(plugin.event_bus, metric_readers=[reader])
    stack.bind_plugin(plugin)
    sim = simulate(plugin, steps=300, layers=4, audit_probability=0.2)
    assert stack.force_flush(10)
    return sim, collect(reader), stack


def test_counters_equal_what_was_emitted(observed):
    sim, data, _ = observed
    t = sim.totals
    forward = {(int(a["layer"]), a["applied"] == "true"): p.value for a, p in data[name("forward")]}
    assert forward == dict(t.forward)
    for key, expected in (
        ("retrieval", t.retrieval),
        ("retrieval_results", t.results),
        ("retrieval_injected", t.injected),
    ):
        got = {int(a["layer"]): p.value for a, p in data[name(key)]}
        assert got == {k: v for k, v in expected.items()}, key
    audit = {
        (a["operation"], a["success"] == "true"): p.value for a, p in data[name("audit_operations")]
    }
    assert audit == dict(t.audit)
    ((_, received),) = data[name("events_received")]
    assert received.value == t.events


def test_histograms_count_and_sum_per_layer(observed):
    sim, data, _ = observed
    t = sim.totals
    per_layer = Counter()
    for (layer, _applied), n in t.forward.items():
        per_layer[layer] += n
    for key, values, scale in (
        ("forward_duration", t.latency_us, 1e-6),
        ("gate_value", t.gate, 1),
        ("entropy_value", t.entropy, 1),
    ):
        points = {int(a["layer"]): p for a, p in data[name(key)]}
        assert {k: p.count for k, p in points.items()} == dict(per_layer), key
        assert sum(p.sum for p in points.values()) == pytest.approx(sum(values) * scale), key
        spec = sc.metric(key)
        assert all(tuple(p.explicit_bounds) == spec.buckets for p in points.values())
    ((_, score),) = data[name("retrieval_score")]
    assert score.count == len(t.scores) and score.sum == pytest.approx(sum(t.scores))


def test_gauges_read_the_bound_plugin_and_the_event_window(observed, plugin):
    sim, data, _ = observed
    stats = plugin.get_store_stats()
    assert data[name("knowledge_count")][0][1].value == stats["count"]
    assert data[name("knowledge_utilization")][0][1].value == pytest.approx(stats["utilization"])
    assert data[name("knowledge_pinned_count")][0][1].value == stats["pinned_count"]
    rate = plugin.get_diagnostics()["slot_governance"]["slot_change_rate"]
    assert data[name("slot_change_rate")][0][1].value == pytest.approx(rate)
    applied = sum(n for (_, a), n in sim.totals.forward.items() if a)
    total = sum(sim.totals.forward.values())
    assert data[name("activation_rate")][0][1].value == pytest.approx(applied / total)
    ((attrs, info),) = data[name("build_info")]
    assert info.value == 1
    assert attrs == {
        "version": "4.4.0-sim",
        "hidden_dim": "4096",
        "bottleneck_dim": "64",
        "max_slots": "256",
        "device": "cpu",
    }
    dropped = {a["reason"]: p.value for a, p in data[name("events_dropped")]}
    assert dropped == dict.fromkeys(sc.DROP_REASONS, 0)
    assert data[name("queue_depth")][0][1].value == 0


def test_plugin_gauges_report_nothing_until_bound(plugin, make_stack):
    reader = InMemoryMetricReader()
    stack = make_stack(plugin.event_bus, metric_readers=[reader])
    simulate(plugin, steps=5)
    stack.force_flush()
    data = collect(reader)
    for key in (
        "knowledge_count",
        "knowledge_utilization",
        "knowledge_pinned_count",
        "slot_change_rate",
        "build_info",
    ):
        assert not data.get(name(key)), key
    assert data[name("activation_rate")]  # computed from events, exists before binding


def test_failing_plugin_introspection_reports_nothing(plugin, make_stack):
    class Broken:
        config = None

        def get_store_stats(self):
            raise RuntimeError("CUDA error")

        def get_diagnostics(self):
            return {"slot_governance": {"slot_change_rate": float("nan")}}

    reader = InMemoryMetricReader()
    stack = make_stack(plugin.event_bus, metric_readers=[reader])
    stack.bind_plugin(Broken())
    data = collect(reader)
    assert not data.get(name("knowledge_count"))
    assert not data.get(name("slot_change_rate"))


def test_per_layer_attribute_switch(plugin, make_stack):
    reader = InMemoryMetricReader()
    stack = make_stack(
        plugin.event_bus, local_config(per_layer_attributes=False), metric_readers=[reader]
    )
    sim = simulate(plugin, steps=20, layers=4)
    assert stack.force_flush()
    data = collect(reader)
    attrs = {tuple(sorted(a)) for a, _ in data[name("forward")]}
    assert attrs == {("applied",)}
    assert {tuple(a) for a, _ in data[name("forward_duration")]} == {()}
    assert sum(p.value for _, p in data[name("forward")]) == sum(sim.totals.forward.values())
