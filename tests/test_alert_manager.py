"""AlertManager as a MetricsConsumer: default rules, channels, history, gauge, failures."""

from __future__ import annotations

import logging

import pytest
from test_alert_support import Clock, Instruments

from aga_otel import semconv
from aga_otel.alerts import DEFAULT_RULES, AlertState, build_alert_manager, effective_rules
from aga_otel.alerts.manager import AlertManager
from aga_otel.config import AlertRuleConfig, ConfigError, ObservabilityConfig
from aga_otel.pipeline import MetricsConsumer
from aga_otel.status import Status, StatusBoard


def make(config: ObservabilityConfig | None = None, **kw):
    inst, clock, status = Instruments(), Clock(), StatusBoard()
    config = config or ObservabilityConfig()
    mgr = AlertManager(
        effective_rules(config), status, interval=5.0, meter=inst.meter,
        log_level=config.alert_log_level, clock=clock, **kw,
    )  # fmt: skip
    return mgr, inst, clock, status


def tick(mgr, inst, clock, n: int = 1, latency: float | None = None, per_tick: int = 100):
    for _ in range(n):
        if latency is not None:
            for _ in range(per_tick):
                inst.record("forward_duration", latency)
        clock.advance(5)
        mgr.consume(inst.collect())


def firing_gauge(inst) -> dict[tuple[str, str], float]:
    name = semconv.metric("alerts_firing").name
    out = {}
    for rm in inst.collect().resource_metrics:
        for sm in rm.scope_metrics:
            for m in sm.metrics:
                if m.name == name:
                    for p in m.data.data_points:
                        out[(p.attributes["rule"], p.attributes["severity"])] = p.value
    return out


def test_is_a_metrics_consumer():
    mgr = build_alert_manager(ObservabilityConfig(), StatusBoard(), Instruments().meter)
    assert isinstance(mgr, MetricsConsumer)
    assert (mgr.name, mgr.interval) == ("alerts", 0.5)
    assert [r.name for r in mgr.rules] == [r.name for r in DEFAULT_RULES]


def test_default_latency_rules_fire_and_resolve():
    mgr, inst, clock, status = make()
    tick(mgr, inst, clock, 3, latency=0.0001)
    assert mgr.firing() == []
    tick(mgr, inst, clock, 1, latency=0.002)  # p99 in (1 ms, 2.5 ms]: warning only
    assert {a.rule_name for a in mgr.firing()} == {"slo_latency_p99"}
    tick(mgr, inst, clock, 1, latency=0.008)
    assert {a.rule_name for a in mgr.firing()} == {"slo_latency_p99", "slo_latency_critical"}
    assert firing_gauge(inst)[("slo_latency_critical", "critical")] == 1
    assert firing_gauge(inst)[("high_utilization", "warning")] == 0
    tick(mgr, inst, clock, 13, latency=0.0001)  # 65 s of fast steps: both windows clean
    assert mgr.firing() == []
    states = [(a.rule_name, a.state) for a in mgr.history()]
    assert states == [
        ("slo_latency_p99", AlertState.FIRING),
        ("slo_latency_critical", AlertState.FIRING),
        ("slo_latency_critical", AlertState.RESOLVED),
        ("slo_latency_p99", AlertState.RESOLVED),
    ]
    assert status.get("alerts").status is Status.HEALTHY


def test_unbound_plugin_gauges_stay_quiet_then_fire():
    config = ObservabilityConfig(alert_rules=[AlertRuleConfig(
        name="empty_store", metric="knowledge_count", operator="<", threshold=1)])  # fmt: skip
    mgr, inst, clock, _ = make(config)
    tick(mgr, inst, clock, 5)
    assert mgr.firing() == []  # no plugin bound: no data, not 0
    inst.set("knowledge_utilization", 0.99)
    inst.set("knowledge_count", 0)
    tick(mgr, inst, clock, 1)
    assert {a.rule_name for a in mgr.firing()} == {"high_utilization", "empty_store"}


def test_callbacks_and_log_records(caplog):
    config = ObservabilityConfig(alert_log_level="ERROR")
    mgr, inst, clock, _ = make(config)
    got = []
    mgr.add_callback(lambda a: 1 / 0)  # a broken callback must not stop the others
    mgr.add_callback(got.append)
    with caplog.at_level(logging.DEBUG, logger="aga_otel.alerts"):
        tick(mgr, inst, clock, 1, latency=0.002)
    (alert,) = got
    assert (alert.rule_name, alert.metric, alert.threshold, alert.severity) == (
        "slo_latency_p99", "latency_p99", 1000.0, "warning")  # fmt: skip
    assert alert.state is AlertState.FIRING and alert.timestamp == clock()
    assert 1000 < alert.value <= 2500 and "above 1000us" in alert.message  # 1.0 units: µs
    records = [r for r in caplog.records if getattr(r, "alert_rule", None) == "slo_latency_p99"]
    assert records and records[0].levelno == logging.ERROR
    assert records[0].alert_state == "firing" and records[0].name == "aga_otel.alerts"
    assert mgr.stats()["callback_errors"] == 1


def test_history_limit_and_stats_without_webhook():
    mgr, inst, clock, _ = make()
    for _ in range(3):
        tick(mgr, inst, clock, 1, latency=0.002)
        tick(mgr, inst, clock, 13, latency=0.0001)
    assert len(mgr.history(limit=2)) == 2
    stats = mgr.stats()
    assert stats["webhook"] is None and stats["webhook_queue_depth"] == 0
    assert stats["evaluations"] == 42 and stats["rules"] == len(DEFAULT_RULES)


def test_user_rule_replaces_a_default_and_defaults_can_be_off():
    tuned = AlertRuleConfig(name="slo_latency_p99", metric="latency_p99_seconds", threshold=0.002)
    rules = effective_rules(ObservabilityConfig(alert_rules=[tuned]))
    assert [r.threshold for r in rules if r.name == "slo_latency_p99"] == [0.002]
    assert len(rules) == len(DEFAULT_RULES)
    off = ObservabilityConfig(alert_default_rules=False, alert_rules=[tuned])
    assert effective_rules(off) == [tuned]


def test_disabled_manager_is_inert():
    mgr = build_alert_manager(
        ObservabilityConfig(alert_enabled=False, alert_webhook_url="http://127.0.0.1:9/x"),
        StatusBoard(), Instruments().meter,
    )  # fmt: skip
    assert mgr.rules == [] and mgr.stats()["webhook"] is None
    mgr.consume(Instruments().collect())
    mgr.shutdown(1)


@pytest.mark.parametrize(("field", "value"), [("metric", "bogus"), ("operator", "!=")])
def test_unknown_metric_or_operator_fails_at_start_up(field, value):
    with pytest.raises(ConfigError) as err:
        AlertRuleConfig(**{"name": "x", "metric": "gate_mean", field: value})
    assert err.value.value == value
    expected = "latency_p99" if field == "metric" else ">="
    assert expected in err.value.accepted


def test_a_broken_rule_degrades_alerts_not_the_process(caplog, monkeypatch):
    mgr, inst, clock, status = make()
    import aga_otel.alerts.manager as manager_module

    def broken(metric, view):
        raise RuntimeError("boom")

    monkeypatch.setattr(manager_module, "evaluate", broken)
    with caplog.at_level(logging.ERROR, logger="aga_otel.alerts"):
        tick(mgr, inst, clock, 3, latency=0.002)
    assert status.get("alerts").status is Status.DEGRADED
    # one line per broken rule, not one per evaluation
    assert len([r for r in caplog.records if "evaluation failed" in r.getMessage()]) == 4
    mgr.consume(None)  # the SDK had nothing to collect: no data, nothing raised
    mgr.consume(object())  # garbage: logged and counted, nothing raised
    assert mgr.stats()["evaluation_errors"] >= 1
