"""Alerting end to end through ObservabilityStack: bus → bridge → shared reader → alerts."""

from __future__ import annotations

from conftest import local_config, wait_for
from test_alert_webhook import Hook

from aga_otel import semconv
from aga_otel.alerts import AlertState


def firing_series(stack) -> dict[tuple[str, str], float]:
    name = semconv.metric("alerts_firing").name
    return {
        (p.attributes["rule"], p.attributes["severity"]): p.value
        for rm in stack.reader.snapshot().resource_metrics
        for sm in rm.scope_metrics
        for m in sm.metrics
        if m.name == name
        for p in m.data.data_points
    }


def test_slow_forward_steps_fire_the_default_slo_rule(make_stack, plugin):
    hook = Hook()
    try:
        config = local_config(
            alert_enabled=True,
            alert_webhook_url=hook.url,
            alert_evaluation_interval=3600,  # evaluate only when the test flushes
        )
        stack = make_stack(plugin.event_bus, config)
        got: list = []
        stack.alert_manager.add_callback(got.append)
        assert stack.alert_manager in stack.reader.consumers
        for i in range(200):  # 2 ms of AGA time per layer: p99 above the 1 ms SLO
            plugin.event_bus.emit("forward", {"aga_applied": True, "gate_mean": 0.5,
                                              "entropy_mean": 1.0, "layer_idx": i % 4,
                                              "latency_us": 2000.0})  # fmt: skip
        stack.force_flush()
        assert {a.rule_name for a in stack.alert_manager.firing()} == {"slo_latency_p99"}
        assert [(a.rule_name, a.state) for a in got] == [("slo_latency_p99", AlertState.FIRING)]
        assert 1000 < got[0].value <= 2500  # latency_p99 is in µs, as in 1.0
        series = firing_series(stack)
        assert series[("slo_latency_p99", "warning")] == 1
        assert series[("slo_latency_critical", "critical")] == 0
        wait_for(lambda: len(hook.requests) == 1)
        assert hook.requests[0][2]["alert"]["rule_name"] == "slo_latency_p99"
        components = stack.get_stats()["components"]
        assert components["alerts"]["status"] == "healthy"
        assert "T0KEN" not in str(components)
    finally:
        hook.close()


def test_plugin_gauges_alert_only_once_a_plugin_is_bound(make_stack, plugin):
    stack = make_stack(plugin.event_bus, local_config(alert_enabled=True))
    for i in range(plugin.config.max_slots):  # a full knowledge store
        plugin.add_knowledge(f"k{i}")
    stack.force_flush()
    assert stack.alert_manager.firing() == []  # not bound: no data, not "utilization 0"
    stack.bind_plugin(plugin)
    stack.force_flush()
    assert {a.rule_name for a in stack.alert_manager.firing()} >= {"high_utilization"}
