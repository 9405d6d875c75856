"""1.0's leniency on the 1.0 path, and aga-otel's own classes as strict as before.

1.0 code defines rules on any metric, builds ``AlertRuleConfig()`` with every field
defaulted, feeds ``from_dict`` whatever its config files hold, asks a bare ``HealthChecker``
for its components and reads ``AlertManager.DEFAULT_RULES``. Each of these works through
``aga_observability``; through ``aga_otel`` the same mistakes stay start-up errors.
"""

from __future__ import annotations

import logging
import time

import pytest
from test_integration_support import isolated  # noqa: F401

import aga_otel
from aga_observability import (
    AlertManager,
    AlertRule,
    AlertSeverity,
    HealthChecker,
    ObservabilityConfig,
    ObservabilityStack,
)
from aga_observability.config import AlertRuleConfig
from aga_otel.config import ConfigError
from aga_otel.contract import EventBus, SimulatedPlugin

pytestmark = pytest.mark.usefixtures("isolated")


def unrecorded_warnings(caplog, rule: str) -> list[logging.LogRecord]:
    return [r for r in caplog.records
            if r.name == "aga_otel.alerts" and "does not record" in r.getMessage()
            and repr(rule) in r.getMessage()]  # fmt: skip


# --- rules on any metric ---------------------------------------------------------------------
def test_a_rule_is_a_comparison_on_any_metric():
    rule = AlertRule(name="x", metric="m", operator=">", threshold=0.5)
    assert rule.evaluate(0.6) and not rule.evaluate(0.4)
    assert rule.format_message(0.6) == "x: m=0.6 (threshold 0.5)"
    typo = AlertRule(name="t", metric="latency_p42", operator="<=", threshold=3,
                     message="{name} {metric} {value:.1f}", severity=AlertSeverity.INFO)  # fmt: skip
    assert typo.evaluate(3.0) and typo.format_message(2.25) == "t latency_p42 2.2"
    cfg = AlertRuleConfig(name="c", metric="queue_depth", threshold=10)
    assert cfg.metric == "queue_depth" and cfg.semantics == "1.0"


def test_an_unrecorded_metric_warns_once_at_start_and_never_fires(caplog):
    bus = EventBus()
    alerts = AlertManager(rules=[AlertRule(name="custom", metric="my_metric", threshold=0),
                                 AlertRule(name="hot", metric="entropy_mean", threshold=5.0)],
                          use_defaults=False)  # fmt: skip
    try:
        with caplog.at_level(logging.WARNING, logger="aga_otel.alerts"):
            alerts.subscribe(bus)  # the manager starts: the one warning
            assert len(unrecorded_warnings(caplog, "custom")) == 1
            for i in range(50):
                bus.emit("forward", {"aga_applied": True, "gate_mean": 0.5, "layer_idx": 0,
                                     "entropy_mean": 7.0 if i == 9 else 1.0,
                                     "latency_us": 10.0})  # fmt: skip
                alerts.get_alerts()
        assert [a["rule_name"] for a in alerts.get_alerts()] == ["hot"]
        assert len(unrecorded_warnings(caplog, "custom")) == 1  # not once per evaluation
        assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
        assert alerts.get_stats()["rules_count"] == 2
        assert alerts.remove_rule("custom") is True
    finally:
        alerts.shutdown()


def test_a_1_0_stack_with_an_unrecorded_metric_starts_healthy(caplog):
    bus = EventBus()
    config = ObservabilityConfig(
        prometheus_enabled=False, health_enabled=False, log_enabled=False,
        alert_rules=[{"name": "gpu_hot", "metric": "gpu_temperature", "threshold": 80}],
    )  # fmt: skip
    stack = ObservabilityStack(event_bus=bus, config=config)
    with caplog.at_level(logging.WARNING, logger="aga_otel.alerts"):
        stack.start()
    try:
        assert len(unrecorded_warnings(caplog, "gpu_hot")) == 1
        bus.emit("forward", {"aga_applied": True, "gate_mean": 0.5, "entropy_mean": 1.0,
                             "layer_idx": 0, "latency_us": 10.0})  # fmt: skip
        assert stack.alert_manager.get_alerts() == []
        alerts = stack.status.snapshot()["alerts"]  # evaluated (on that read), not failing
        assert (alerts["status"], alerts["failures"]) == ("healthy", 0), alerts
    finally:
        stack.shutdown()


def test_all_default_rule_construction():
    cfg = AlertRuleConfig()
    assert (cfg.name, cfg.metric, cfg.operator, cfg.threshold) == ("", "", ">", 0.0)
    assert (cfg.window_seconds, cfg.cooldown_seconds, cfg.severity) == (60, 300, "warning")
    assert ObservabilityConfig(alert_rules=[AlertRuleConfig()]).alert_rules[0].name == ""


def test_the_other_rule_fields_are_still_validated():
    with pytest.raises(ConfigError, match="operator"):
        AlertRuleConfig(name="r", metric="anything", operator="!=")
    with pytest.raises(ConfigError, match="severity"):
        AlertRuleConfig(metric="anything", severity="fatal")
    with pytest.raises(ConfigError, match="latency_p99_seconds"):  # a threshold in seconds
        AlertRuleConfig(name="r", metric="latency_p99", threshold=0.001)
    with pytest.raises(ConfigError, match="metric"):
        AlertRuleConfig(name="r", metric=None)


# --- from_dict -----------------------------------------------------------------------------
def test_from_dict_ignores_unknown_keys_with_one_warning_naming_them(caplog):
    with caplog.at_level(logging.WARNING, logger="aga_observability"):
        cfg = ObservabilityConfig.from_dict({
            "prometheus_port": 9191, "log_format": "text",
            "dashboard_theme": "dark", "otlp_header": {"authorization": "Bearer s3cret"},
        })  # fmt: skip
    assert (cfg.prometheus_port, cfg.log_format) == (9191, "text")
    (warning,) = [r for r in caplog.records if r.name == "aga_observability"]
    assert "dashboard_theme" in warning.getMessage() and "otlp_header" in warning.getMessage()
    assert "s3cret" not in warning.getMessage()  # names only, never values
    with pytest.raises(ConfigError, match="log_format"):  # known keys keep their checks
        ObservabilityConfig.from_dict({"log_format": "xml", "unknown": 1})


# --- aga-otel's own classes stay strict ----------------------------------------------------------
def test_aga_otel_s_own_configuration_stays_strict():
    with pytest.raises(ConfigError, match="dashboard_theme"):
        aga_otel.ObservabilityConfig.from_dict({"dashboard_theme": "dark"})
    with pytest.raises(ConfigError, match="metric"):
        aga_otel.AlertRuleConfig(name="r", metric="gpu_temperature")
    with pytest.raises(TypeError):
        aga_otel.AlertRuleConfig()
    with pytest.raises(ConfigError, match="name"):
        aga_otel.AlertRuleConfig(name="", metric="gate_mean")


# --- health ----------------------------------------------------------------------------------
def test_health_checker_without_a_plugin_reports_only_the_user_s_checks():
    health = HealthChecker()
    try:
        assert health.check()["components"] == {}
        assert health.check()["status"] == "healthy"
        health.add_check("gpu", lambda: {"status": "degraded", "temperature": 81})
        report = health.check()
        assert set(report["components"]) == {"gpu"}
        assert report["status"] == "degraded" and report["timestamp"] <= time.time()
        health.bind_plugin(SimulatedPlugin())
        assert set(health.check()["components"]) == {
            "gpu", "kv_store", "gate_system", "retriever", "event_bus", "attachment"}  # fmt: skip
    finally:
        health.shutdown()


def test_a_1_0_stack_reports_plugin_components_once_a_plugin_is_bound():
    bus = EventBus()
    config = ObservabilityConfig(prometheus_enabled=False, health_port=0, log_enabled=False)
    stack = ObservabilityStack(event_bus=bus, config=config).start()
    try:
        plugin_names = {"kv_store", "gate_system", "retriever", "event_bus", "attachment"}
        assert not plugin_names & set(stack.health.check()["components"])
        stack.bind_plugin(SimulatedPlugin(event_bus=bus))
        assert plugin_names <= set(stack.health.check()["components"])
    finally:
        stack.shutdown()


# --- DEFAULT_RULES ------------------------------------------------------------------------------
def test_default_rules_class_attribute():
    rules = {r.name: r for r in AlertManager.DEFAULT_RULES}
    assert set(rules) == {"slo_latency_p99", "slo_latency_critical", "high_utilization",
                          "slot_thrashing"}  # fmt: skip
    p99 = rules["slo_latency_p99"]
    assert (p99.metric, p99.operator, p99.threshold, p99.window_seconds) == (
        "latency_p99", ">", 1000, 60)  # fmt: skip
    assert (p99.severity, p99.cooldown_seconds) == (AlertSeverity.WARNING, 300)
    crit = rules["slo_latency_critical"]
    assert (crit.threshold, crit.window_seconds, crit.severity, crit.cooldown_seconds) == (
        5000, 30, AlertSeverity.CRITICAL, 60)  # fmt: skip
    assert (rules["high_utilization"].threshold, rules["high_utilization"].cooldown_seconds) == (
        0.95, 600)  # fmt: skip
    assert (rules["slot_thrashing"].metric, rules["slot_thrashing"].threshold) == (
        "slot_change_rate", 0.5)  # fmt: skip
    assert all(isinstance(r, AlertRule) for r in AlertManager.DEFAULT_RULES)


def test_default_rules_are_what_use_defaults_installs():
    class Quiet(AlertManager):
        DEFAULT_RULES = [AlertRule(name="only", metric="gate_mean", threshold=0.9)]

    assert AlertManager().get_stats()["rules_count"] == 4
    quiet = Quiet()
    assert quiet.get_stats()["rules_count"] == 1
    quiet.remove_rule("only")
    assert len(Quiet.DEFAULT_RULES) == 1 and len(AlertManager.DEFAULT_RULES) == 4
