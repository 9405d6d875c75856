"""Drop-in compatibility with aga-observability 1.0: its API and its README examples.

The two README examples are the ones the contract document describes; they run as written,
with files in a temporary directory. The manual-integration example keeps its fixed ports
9090 and 8080: whether they are free or busy, the stack must run (degrading if busy).
"""

from __future__ import annotations

import dataclasses
import inspect
import json
import socket

import pytest
from test_integration_support import AGAPluginDouble, isolated  # noqa: F401

import aga_observability
from aga_observability import (
    AlertRuleConfig,
    ObservabilityConfig,
    ObservabilityStack,
    get_global_stack,
)
from aga_otel.contract import SimulatedConfig as AGAConfig
from aga_otel.contract import WorkloadProfile, WorkloadSimulator

pytestmark = pytest.mark.usefixtures("isolated")


def run_inference(plugin, steps: int = 20) -> WorkloadSimulator:
    sim = WorkloadSimulator(plugin, WorkloadProfile(layers=4), seed=5)
    sim.start()
    sim.run_steps(steps)
    return sim


def hold_ports(*ports: int) -> list[socket.socket]:
    """Listen on ``ports`` if they are free; a port we cannot bind is busy anyway."""
    held = []
    for port in ports:
        s = socket.socket()
        try:
            s.bind(("0.0.0.0", port))
            s.listen()
            held.append(s)
        except OSError:
            s.close()
    return held


# --- the public surface ------------------------------------------------------------------------
def test_module_exposes_the_1_0_names():
    for name in ("ObservabilityStack", "ObservabilityConfig", "AlertRuleConfig",
                 "setup_observability", "get_global_stack", "bind_plugin",
                 "shutdown_observability"):  # fmt: skip
        assert name in aga_observability.__all__ and getattr(aga_observability, name)


def test_signatures_keep_the_1_0_argument_names():
    params = inspect.signature(ObservabilityStack).parameters
    assert list(params)[:2] == ["event_bus", "config"]
    setup = inspect.signature(aga_observability.setup_observability).parameters
    assert list(setup)[:2] == ["event_bus", "aga_config"]
    assert setup["aga_config"].default is None
    assert list(inspect.signature(aga_observability.bind_plugin).parameters) == ["plugin"]
    for method in ("start", "bind_plugin", "shutdown", "get_stats", "generate_dashboard"):
        assert callable(getattr(ObservabilityStack, method))
    dash = inspect.signature(ObservabilityStack.generate_dashboard).parameters
    assert dash["path"].default is None


def test_config_fields_and_defaults_of_1_0():
    defaults = {f.name: f for f in dataclasses.fields(ObservabilityConfig)}
    expected = {
        "enabled": True, "prometheus_enabled": True, "prometheus_prefix": "aga",
        "log_enabled": True, "log_format": "json", "log_level": "INFO", "log_file": None,
        "log_max_bytes": 100 * 1024 * 1024, "log_backup_count": 5,
        "audit_storage_backend": "memory", "audit_storage_path": "aga_audit.db",
        "audit_retention_days": 90, "audit_flush_interval": 10, "audit_batch_size": 100,
        "alert_enabled": True, "alert_webhook_url": None, "health_enabled": True,
        "health_port": 8080, "health_path": "/health",
    }  # fmt: skip
    for name, value in expected.items():
        assert defaults[name].default == value, name
    for name in ("prometheus_labels", "alert_rules", "alert_log_level", "prometheus_port"):
        assert name in defaults
    # 1.0's port on the 1.0 path; aga-otel's own config keeps 9464 (the OTel exporter's).
    assert ObservabilityConfig().prometheus_port == 9090
    assert ObservabilityConfig.from_aga_config(AGAConfig()).prometheus_port == 9090
    from aga_otel import ObservabilityConfig as OtelConfig

    assert OtelConfig().prometheus_port == 9464


def test_alert_rule_fields_of_1_0():
    rule = AlertRuleConfig(name="r", metric="entropy_mean", operator=">=", threshold=1.0)
    assert (rule.window_seconds, rule.cooldown_seconds) == (60, 300)
    for op in (">", "<", ">=", "<=", "=="):
        AlertRuleConfig(name="r", metric="gate_mean", operator=op, threshold=0.5)
    for severity in ("info", "warning", "critical"):
        AlertRuleConfig(name="r", metric="gate_mean", threshold=0.5, severity=severity)


def test_from_dict_accepts_a_1_0_dict():
    cfg = ObservabilityConfig.from_dict({
        "prometheus_port": 0, "log_format": "text", "health_enabled": False,
        "alert_rules": [{"name": "r", "metric": "latency_p99", "operator": ">",
                         "threshold": 500.0, "severity": "warning"}],
    })  # fmt: skip
    assert cfg.alert_rules[0].metric == "latency_p99" and cfg.log_format == "text"


# --- README example 1: manual integration --------------------------------------------------------
def manual_integration_example() -> tuple[ObservabilityStack, WorkloadSimulator]:
    """aga-observability 1.0 README, "manual integration", as written."""
    plugin = AGAPluginDouble(AGAConfig(hidden_dim=4096))  # AGAPlugin(AGAConfig(hidden_dim=4096))
    obs_config = ObservabilityConfig(
        prometheus_enabled=True,
        prometheus_port=9090,
        log_format="json",
        log_file="aga_events.log",
        audit_storage_backend="sqlite",
        audit_storage_path="aga_audit.db",
        alert_enabled=True,
        health_enabled=True,
        health_port=8080,
    )
    stack = ObservabilityStack(event_bus=plugin.event_bus, config=obs_config)
    stack.start()
    stack.bind_plugin(plugin)
    sim = run_inference(plugin)
    stack.force_flush()
    return stack, sim


@pytest.mark.parametrize("ports", ["as found", "busy"])
def test_manual_integration_example_runs_as_written(tmp_path, monkeypatch, ports):
    monkeypatch.chdir(tmp_path)
    held = hold_ports(9090, 8080) if ports == "busy" else []
    try:
        stack, sim = manual_integration_example()
        stats = stack.get_stats()
        assert stats["running"] and stats["plugin_bound"]
        assert stats["bridge"]["received"] == sim.totals.events  # degraded, not failed
        for attr in ("prometheus", "log_exporter", "audit_storage", "alert_manager", "health"):
            assert hasattr(stack, attr)
        assert stack.audit_storage is not None
        if ports == "busy":
            assert stats["prometheus_port"] is None
            assert stats["components"]["metrics.prometheus"]["status"] == "unhealthy"
        stack.shutdown()
        stack.shutdown()  # idempotent
    finally:
        for s in held:
            s.close()
    assert (tmp_path / "aga_audit.db").exists()
    assert (tmp_path / "aga_events.log").exists()


def test_manual_example_next_to_the_auto_stack(tmp_path, monkeypatch):
    """With aga-otel installed, AGAPlugin's hook already started the global stack."""
    monkeypatch.chdir(tmp_path)
    stack, _ = manual_integration_example()
    auto = get_global_stack()
    assert auto is not None and auto is not stack
    assert auto.get_stats()["running"] and stack.get_stats()["running"]
    stack.shutdown()


# --- README example 2: full configuration --------------------------------------------------------
def test_full_configuration_example(tmp_path):
    config = ObservabilityConfig(
        enabled=True,
        prometheus_enabled=True,
        prometheus_port=0,  # 9090 in the README; the example allows any port
        prometheus_prefix="aga",
        prometheus_labels={"env": "production", "cluster": "gpu-01"},
        log_enabled=True,
        log_format="json",
        log_level="INFO",
        log_file=str(tmp_path / "aga.log"),
        log_max_bytes=100 * 1024 * 1024,
        log_backup_count=5,
        audit_storage_backend="sqlite",
        audit_storage_path=str(tmp_path / "audit.db"),
        audit_retention_days=90,
        audit_flush_interval=10,
        audit_batch_size=100,
        alert_enabled=True,
        alert_webhook_url="http://127.0.0.1:9/aga-alerts",
        alert_rules=[
            AlertRuleConfig(
                name="custom_high_entropy",
                metric="entropy_mean",
                operator=">",
                threshold=5.0,
                severity="critical",
                message="Entropy too high: {value:.2f}",
            )
        ],
        health_enabled=True,
        health_port=0,  # 8080 in the README
        health_path="/health",
    )
    plugin = AGAPluginDouble(AGAConfig(observability_enabled=False))
    stack = ObservabilityStack(event_bus=plugin.event_bus, config=config)
    stack.start()
    stack.bind_plugin(plugin)
    sim = run_inference(plugin)
    stack.force_flush()
    stats = stack.get_stats()
    assert stats["running"] and stats["bridge"]["received"] == sim.totals.events
    assert stack.prometheus.port and stack.alert_manager is not None
    stack.shutdown()
    assert (tmp_path / "audit.db").exists() and (tmp_path / "aga.log").exists()


# --- README example 3: the dashboard -------------------------------------------------------------
def test_generate_dashboard_writes_grafana_json(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    plugin = AGAPluginDouble(AGAConfig(observability_enabled=False))
    stack = ObservabilityStack(event_bus=plugin.event_bus, config=ObservabilityConfig(
        prometheus_port=0, health_enabled=False))  # fmt: skip
    stack.start()
    text = stack.generate_dashboard("aga_dashboard.json")
    stack.shutdown()
    written = json.loads((tmp_path / "aga_dashboard.json").read_text())
    assert written == json.loads(text) and written["overwrite"] is True  # Grafana's wrapper
    assert written["dashboard"]["panels"] and written["dashboard"]["title"]
