"""aga-observability 1.0's modules and names, imported the way 1.0 users import them."""

from __future__ import annotations

import importlib
import inspect

import pytest

import aga_observability

MODULES = {
    "config": ["ObservabilityConfig", "AlertRuleConfig"],
    "stack": ["ObservabilityStack"],
    "integration": ["setup_observability", "get_global_stack", "bind_plugin",
                    "shutdown_observability"],
    "prometheus_exporter": ["PrometheusExporter"],
    "grafana_dashboard": ["GrafanaDashboardGenerator"],
    "alert_manager": ["AlertManager", "AlertRule", "AlertSeverity", "AlertEvent"],
    "log_exporter": ["LogExporter"],
    "audit_storage": ["AuditStorageBackend", "FileAuditStorage", "SQLiteAuditStorage"],
    "health": ["HealthChecker", "HealthStatus"],
}  # fmt: skip
TOP_LEVEL = [
    "setup_observability", "ObservabilityStack", "ObservabilityConfig", "PrometheusExporter",
    "GrafanaDashboardGenerator", "AlertManager", "AlertRule", "AlertSeverity", "LogExporter",
    "AuditStorageBackend", "FileAuditStorage", "SQLiteAuditStorage", "HealthChecker",
    "HealthStatus",
]  # fmt: skip


@pytest.mark.parametrize("module", sorted(MODULES))
def test_every_1_0_module_imports_with_its_names(module):
    mod = importlib.import_module(f"aga_observability.{module}")
    for name in MODULES[module]:
        assert getattr(mod, name) is not None, (module, name)


def test_top_level_names_and_version():
    assert aga_observability.__version__ == "1.0.0"
    for name in TOP_LEVEL:
        assert name in aga_observability.__all__
        value = getattr(aga_observability, name)
        home = next(m for m, names in MODULES.items() if name in names)
        assert value is getattr(importlib.import_module(f"aga_observability.{home}"), name)
    with pytest.raises(AttributeError):
        aga_observability.NoSuchName  # noqa: B018


@pytest.mark.parametrize(
    ("cls", "params"),
    [
        ("PrometheusExporter", {"prefix": "aga", "port": 9090, "labels": None, "registry": None}),
        ("GrafanaDashboardGenerator", {"prefix": "aga", "datasource": "Prometheus",
                                       "title": "AGA Observability Dashboard", "refresh": "5s"}),
        ("AlertManager", {"rules": None, "use_defaults": True, "max_history": 1000,
                          "webhook_url": None}),
        ("LogExporter", {"format": "json", "level": "INFO", "file": None,
                         "max_bytes": 100 * 1024 * 1024, "backup_count": 5,
                         "logger_name": "aga.observability"}),
        ("FileAuditStorage", {"path": "aga_audit.jsonl", "flush_interval": 10,
                              "batch_size": 100, "max_file_size": 100 * 1024 * 1024,
                              "max_files": 10}),
        ("SQLiteAuditStorage", {"path": "aga_audit.db", "flush_interval": 10, "batch_size": 100}),
    ],
)  # fmt: skip
def test_constructor_signatures_of_1_0(cls, params):
    sig = inspect.signature(getattr(aga_observability, cls))
    assert {n: p.default for n, p in sig.parameters.items()} == params


def test_enums_are_str_enums_equal_to_their_values():
    from aga_observability import AlertSeverity, HealthStatus

    assert [s.value for s in AlertSeverity] == ["info", "warning", "critical"]
    assert (
        AlertSeverity.CRITICAL == "critical" and AlertSeverity("warning") is AlertSeverity.WARNING
    )
    assert [s.value for s in HealthStatus] == ["healthy", "degraded", "unhealthy"]
    assert HealthStatus.DEGRADED == "degraded"


def test_alert_rule_and_event_dataclasses():
    from aga_observability.alert_manager import AlertEvent, AlertRule, AlertSeverity

    rule = AlertRule(name="slow", metric="latency_p99", threshold=1000,
                     message="{name}: {metric} {value:.0f}us > {threshold}us")  # fmt: skip
    assert (rule.operator, rule.window_seconds, rule.cooldown_seconds) == (">", 60, 300)
    assert rule.severity is AlertSeverity.WARNING
    assert rule.evaluate(1500.0) and not rule.evaluate(999.0)
    assert rule.format_message(1500.0) == "slow: latency_p99 1500us > 1000us"
    eq = AlertRule(name="eq", metric="gate_mean", operator="==", threshold=0.5)
    assert eq.evaluate(0.5 + 1e-10) and not eq.evaluate(0.5 + 1e-6)  # 1.0's tolerance
    event = AlertEvent("slow", "latency_p99", 1500.0, 1000.0, AlertSeverity.WARNING, "m")
    assert event.resolved is False and event.timestamp > 0


def test_a_bad_rule_fails_when_written_not_silently_later():
    # Any metric name is 1.0 code (tests/test_compat_leniency.py); an operator 1.0 could
    # never evaluate, or a threshold that is no number, is refused at once.
    from aga_observability import AlertRule
    from aga_otel.config import ConfigError

    with pytest.raises(ConfigError, match="operator"):
        AlertRule(name="r", metric="latency_p42", operator="=>", threshold=1)
    with pytest.raises(ConfigError, match="threshold"):
        AlertRule(name="r", metric="gate_mean", threshold=float("nan"))
