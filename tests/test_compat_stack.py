"""The 1.0 ObservabilityStack: configure, then start; each component's 1.0 behaviour."""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request

import pytest
from conftest import wait_for
from test_integration_support import isolated, scrape  # noqa: F401

from aga_observability import (
    GrafanaDashboardGenerator,
    HealthChecker,
    LogExporter,
    ObservabilityConfig,
    ObservabilityStack,
    PrometheusExporter,
    SQLiteAuditStorage,
)
from aga_observability.audit_storage import FileAuditStorage
from aga_observability.config import AlertRuleConfig
from aga_otel.contract import EventBus, SimulatedPlugin

pytestmark = pytest.mark.usefixtures("isolated")


def otel_threads() -> set[str]:
    return {t.name for t in threading.enumerate() if t.name.startswith("aga-otel")}


def emit_some(bus, hot: bool = False) -> None:
    for i in range(20):
        bus.emit("forward", {"aga_applied": i % 2 == 0, "gate_mean": 0.5,
                             "entropy_mean": 6.5 if hot and i == 7 else 1.0,
                             "layer_idx": i % 4, "latency_us": 30.0})  # fmt: skip
    bus.emit("retrieval", {"layer_idx": 1, "results_count": 3, "injected_count": 2,
                           "budget_remaining": 5, "ids": ["a", "b"], "scores": [0.9, 0.7]})  # fmt: skip
    bus.emit("audit", {"operation": "register", "details": {"id": "k1", "pinned": False},
                       "success": True, "error": None, "timestamp": time.time()})  # fmt: skip


def test_configure_then_start(tmp_path):
    before = otel_threads()
    config = ObservabilityConfig(
        prometheus_port=0, health_port=0, log_file=str(tmp_path / "aga_events.log"),
        audit_storage_backend="sqlite", audit_storage_path=str(tmp_path / "aga_audit.db"),
        audit_flush_interval=0.2,
        alert_rules=[AlertRuleConfig(name="custom_high_entropy", metric="entropy_mean",
                                     operator=">", threshold=5.0, severity="critical",
                                     message="Entropy too high: {value:.2f}")],
    )  # fmt: skip
    bus = EventBus()
    stack = ObservabilityStack(event_bus=bus, config=config)
    # 1.0 builds its components in __init__, binds ports in start().
    assert isinstance(stack.prometheus, PrometheusExporter)
    assert isinstance(stack.log_exporter, LogExporter)
    assert isinstance(stack.audit_storage, SQLiteAuditStorage)
    assert isinstance(stack.health, HealthChecker)
    assert isinstance(stack.dashboard_generator, GrafanaDashboardGenerator)
    assert otel_threads() == before and bus.get_stats()["subscribers"] == {}
    assert not stack.prometheus.get_stats()["server_started"]
    got = []
    stack.alert_manager.add_callback(got.append)  # before start(): kept
    stack.health.add_check("gpu", lambda: {"status": "degraded", "detail": "ECC"})
    plugin = SimulatedPlugin(event_bus=bus)
    stack.start()
    stack.start()  # twice only warns
    # One subscription for every component: the bridge's hand-off, nothing else per event.
    assert bus.get_stats()["subscribers"] == {"*": 1}
    stack.bind_plugin(plugin)
    emit_some(bus, hot=True)
    assert wait_for(lambda: got)
    assert got[0].rule_name == "custom_high_entropy" and got[0].message == "Entropy too high: 6.50"
    samples = scrape(stack.prometheus.port)
    assert sum(s.value for s in samples["aga_forward_total"]) == 20
    health = stack.health.check()
    assert health["status"] == "degraded" and health["components"]["gpu"]["status"] == "degraded"
    assert {"kv_store", "gate_system", "retriever", "event_bus", "attachment"} <= set(
        health["components"]
    )
    assert wait_for(lambda: stack.audit_storage.query(operation="register"))
    stats = stack.get_stats()
    assert stats["running"] and stats["plugin_bound"]
    assert stats["alert_manager"]["total_alerts"] == 1
    assert stats["audit_storage"]["total_records"] == 2  # register + aga-otel's inject row
    assert stats["prometheus"]["server_started"] and stats["log_exporter"]["format"] == "json"
    text = stack.generate_dashboard(str(tmp_path / "aga_dashboard.json"))
    stack.shutdown()
    wrapper = json.loads((tmp_path / "aga_dashboard.json").read_text())
    assert wrapper == json.loads(text) and wrapper["overwrite"] is True
    lines = [json.loads(x) for x in (tmp_path / "aga_events.log").read_text().splitlines()]
    audit = next(x for x in lines if x["event_type"] == "audit")
    assert audit["data"]["operation"] == "register" and audit["data"]["details"]["id"] == "k1"
    assert set(audit) == {"timestamp", "level", "logger", "message", "event_type",
                          "event_source", "event_timestamp", "data"}  # fmt: skip
    retrieval = next(x for x in lines if x["event_type"] == "retrieval")
    assert retrieval["data"]["injected_count"] == 2 and retrieval["level"] == "INFO"


def test_custom_prefix_renames_aga_metrics_on_a_real_scrape():
    bus = EventBus()
    stack = ObservabilityStack(bus, ObservabilityConfig(
        prometheus_port=0, prometheus_prefix="myteam_aga", health_enabled=False))  # fmt: skip
    stack.start()
    stack.prometheus.set_build_info({"version": "4.4.0"})
    emit_some(bus)
    stack.force_flush()
    samples = scrape(stack.prometheus.port)
    stack.shutdown()
    assert sum(s.value for s in samples["myteam_aga_forward_total"]) == 20
    assert "myteam_aga_forward_duration_seconds_count" in samples
    assert "aga_forward_total" not in samples
    assert "aga_otel_events_received_total" in samples and "target_info" in samples
    assert samples["myteam_aga_build_info"][0].labels["version"] == "4.4.0"
    board = stack.dashboard_generator.to_dict()["dashboard"]
    from aga_otel.dashboards import iter_queries

    exprs = [e for _, e in iter_queries(board)]
    assert any("myteam_aga_forward_total" in e for e in exprs)
    assert not any("aga_forward" in e.replace("myteam_aga_forward", "") for e in exprs)


def test_standalone_exporters_and_stores(tmp_path):
    bus = EventBus()
    prom = PrometheusExporter(port=0, labels={"env": "test"})
    prom.subscribe(bus)
    prom.start_server()
    logs = LogExporter(file=str(tmp_path / "events.log"), level="DEBUG", logger_name="my.app")
    logs.subscribe(bus)
    sqlite = SQLiteAuditStorage(str(tmp_path / "audit.db"), flush_interval=0.2)
    jsonl = FileAuditStorage(str(tmp_path / "audit.jsonl"), flush_interval=0.2)
    try:
        sqlite.subscribe(bus)
        emit_some(bus)
        jsonl.store({"timestamp": time.time() - 200 * 86400, "operation": "clear",
                     "details": {}, "success": True, "error": None})  # fmt: skip
        jsonl.store_batch([{"timestamp": time.time(), "operation": "register",
                            "details": {"id": f"k{i}"}, "success": True, "error": None}
                           for i in range(3)])  # fmt: skip
        assert wait_for(lambda: sum(
            s.value for s in scrape(prom.port).get("aga_forward_total", [])) == 20)  # fmt: skip
        assert scrape(prom.port)["aga_forward_total"][0].labels["env"] == "test"
        # The register row, and aga-otel's own row for the retrieval that injected 2 facts.
        assert wait_for(lambda: len(sqlite.query()) == 2)
        assert {r["operation"] for r in sqlite.query()} == {"register", "inject"}
        (row,) = sqlite.query(operation="register")
        assert row["details"]["id"] == "k1" and row["success"] is True and row["id"] >= 1
        assert set(row) == {"id", "timestamp", "operation", "details", "success", "error",
                            "created_at"}  # fmt: skip
        assert jsonl.flush() and [r["operation"] for r in jsonl.query(limit=10)][0] == "register"
        assert len(jsonl.query(operation="register")) == 3
        assert jsonl.cleanup(retention_days=90) == 1  # the 200-day-old entry
        assert jsonl.get_stats()["file_exists"] and jsonl.get_stats()["total_written"] == 4
        assert sqlite.get_stats()["total_records"] == 2  # register + inject
        assert prom.get_stats()["server_started"] and prom.get_stats()["subscribed"]
        assert logs.flush() and logs.get_stats()["event_count"] == 22
    finally:
        for component in (prom, logs, sqlite, jsonl):
            component.shutdown()
    lines = [json.loads(x) for x in (tmp_path / "events.log").read_text().splitlines()]
    assert {x["event_type"] for x in lines} == {"forward", "retrieval", "audit"}
    assert {x["logger"] for x in lines} == {"my.app"}
    assert {x["level"] for x in lines if x["event_type"] == "forward"} == {"DEBUG"}


def test_standalone_health_checker_serves_1_0_json():
    health = HealthChecker()
    plugin = SimulatedPlugin()
    health.bind_plugin(plugin)
    health.add_check("broken", lambda: 1 / 0)
    port = health.start_server(port=0, path="/health")
    try:
        report = health.check()
        assert report["status"] == "unhealthy"
        assert report["components"]["broken"]["status"] == "unhealthy"
        assert report["components"]["attachment"]["status"] == "degraded"  # not attached
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=5)
        assert err.value.code == 503
        assert json.loads(err.value.read())["status"] == "unhealthy"
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/elsewhere", timeout=5)
        assert err.value.code == 404
    finally:
        health.shutdown()


def test_zero_code_stack_is_served_through_its_1_0_face():
    from test_integration_support import AGAPluginDouble, aga_config

    from aga_observability import get_global_stack

    plugin = AGAPluginDouble(aga_config())  # aga-core's hook runs here (8080 busy: degrades)
    stack = get_global_stack()
    assert isinstance(stack, ObservabilityStack) and stack is get_global_stack()
    assert stack.get_stats()["plugin_bound"]
    got = []
    stack.alert_manager.add_callback(got.append)
    stack.alert_manager.add_rule(
        __import__("aga_observability").AlertRule(name="hot", metric="entropy_mean", threshold=5.0)
    )
    emit_some(plugin.event_bus, hot=True)
    assert wait_for(lambda: got) and got[0].rule_name == "hot"


def test_exporter_registers_into_the_user_s_registry():
    from prometheus_client import CollectorRegistry, generate_latest

    registry = CollectorRegistry()
    bus = EventBus()
    prom = PrometheusExporter(prefix="team", registry=registry)
    try:
        prom.subscribe(bus)
        prom.set_build_info({"version": "4.4.0"})
        emit_some(bus)
        assert wait_for(lambda: b"team_forward_total" in generate_latest(registry))
        assert 'team_build_info{version="4.4.0"} 1.0' in generate_latest(registry).decode()
        plugin = SimulatedPlugin(event_bus=bus)
        for i in range(64):
            plugin.add_knowledge(f"k{i}", pinned=i < 4)
        prom.update_gauges(plugin)
        text = generate_latest(registry).decode()
        assert text.count("# TYPE team_build_info ") == 1  # the plugin's build info only
        assert 'team_build_info{bottleneck_dim="64"' in text
        assert "team_knowledge_count 64.0" in text and "team_knowledge_pinned_count 4.0" in text
        assert "team_knowledge_utilization 0.25" in text and "team_slot_change_rate" in text
        assert not prom.get_stats()["server_started"] and prom.get_stats()["subscribed"]
    finally:
        prom.shutdown()
    assert bus.get_stats()["subscribers"] == {}  # unsubscribed on shutdown


def test_prefix_must_be_a_prometheus_name_prefix():
    from aga_otel.config import ConfigError

    assert ObservabilityConfig(prometheus_prefix="team:aga").prometheus_prefix == "team:aga"
    with pytest.raises(ConfigError, match=r"\[a-zA-Z_:\]") as err:
        ObservabilityConfig(prometheus_prefix="9-lives")
    assert err.value.field == "prometheus_prefix" and err.value.value == "9-lives"


def test_rules_removed_and_added_before_start_are_replayed():
    from aga_observability import AlertRule

    stack = ObservabilityStack(EventBus(), ObservabilityConfig(
        prometheus_enabled=False, health_enabled=False))  # fmt: skip
    for name in ("slo_latency_p99", "slo_latency_critical", "high_utilization"):
        assert stack.alert_manager.remove_rule(name)
    stack.alert_manager.add_rule(AlertRule(name="cold", metric="gate_mean", operator="<",
                                           threshold=0.1))  # fmt: skip
    stack.start()
    try:
        assert stack.get_stats()["alerts"]["rules"] == 2  # slot_thrashing and cold
        assert stack.alert_manager.get_stats()["rules_count"] == 2
        assert stack.alert_manager.remove_rule("slot_thrashing")
        assert stack.get_stats()["alerts"]["rules"] == 1
    finally:
        stack.shutdown()
