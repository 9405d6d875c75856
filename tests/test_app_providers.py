"""Issue 13: aga-otel's log records and spans through the application's own LoggerProvider
and TracerProvider (``AgaInstrumentor``), with the audit trail and the local JSON lines
kept on aga-otel's own provider; and the bound plugin's ``model_type`` (``aga.model.type``)
on every record and span, over a real OTLP export and in the local JSON file.

The ``opentelemetry-instrument`` + ``OTEL_CONFIG_FILE`` run of the same path is in
tests/test_instrumentation.py.
"""

from __future__ import annotations

import json
import time
from collections import Counter

import pytest
from conftest import local_config
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, SimpleLogRecordProcessor
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from otlp_receiver import GrpcReceiver, attrs
from test_integration_support import isolated  # noqa: F401

from aga_otel import semconv as sc
from aga_otel.contract import SimulatedPlugin
from aga_otel.instrumentation import AgaInstrumentor
from aga_otel.integration import bind_plugin, get_global_stack, setup_observability

MODEL = "llama-test-8b"


class AppProviders:
    """An application's logger and tracer providers, exporting to memory."""

    def __init__(self) -> None:
        resource = Resource.create({"service.name": "the-app"})
        self.logs, self.spans = InMemoryLogRecordExporter(), InMemorySpanExporter()
        self.logger_provider = LoggerProvider(resource=resource)
        self.logger_provider.add_log_record_processor(SimpleLogRecordProcessor(self.logs))
        self.tracer_provider = TracerProvider(resource=resource)
        self.tracer_provider.add_span_processor(SimpleSpanProcessor(self.spans))

    def records(self) -> list:
        return self.logs.get_finished_logs()

    def shutdown(self) -> None:
        self.logger_provider.shutdown()
        self.tracer_provider.shutdown()


def emit_retrieval_and_audit(plugin: SimulatedPlugin, success: bool = True) -> None:
    bus = plugin.event_bus
    bus.emit("retrieval", {"layer_idx": 1, "results_count": 2, "injected_count": 1,
                           "budget_remaining": 3, "ids": ["fact-1"], "scores": [0.9]})  # fmt: skip
    bus.emit("audit", {"operation": "register", "details": {"id": "fact-1"}, "success": success,
                       "error": None if success else "denied", "timestamp": time.time()})  # fmt: skip


@pytest.fixture
def app():
    providers = AppProviders()
    yield providers
    providers.shutdown()


def read_json_lines(path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.mark.usefixtures("isolated")
def test_records_and_spans_go_through_the_app_providers(app, tmp_path):
    instrumentor = AgaInstrumentor()
    with GrpcReceiver() as rx:
        instrumentor.instrument(
            logger_provider=app.logger_provider, tracer_provider=app.tracer_provider,
            tracing_enabled=True, prometheus_enabled=False, health_enabled=False,
            otlp_endpoint=rx.endpoint,  # aga-otel's own log/span exporters would use it
            audit_storage_backend="sqlite", audit_storage_path=str(tmp_path / "audit.db"),
            log_file=str(tmp_path / "aga.log"), log_format="json",
        )  # fmt: skip
        try:
            plugin = SimulatedPlugin()
            plugin.attach(MODEL, 2)
            stack = setup_observability(plugin.event_bus, plugin.config)
            bind_plugin(plugin)
            emit_retrieval_and_audit(plugin)
            assert stack.force_flush()

            records = app.records()
            assert sorted(r.log_record.event_name for r in records) == [
                "aga.audit", "aga.retrieval"]  # fmt: skip
            for r in records:
                assert r.instrumentation_scope.name == "aga_otel.logs"
                assert r.resource.attributes["service.name"] == "the-app"
                assert r.log_record.attributes[sc.A_MODEL_TYPE] == MODEL
            spans = app.spans.get_finished_spans()
            assert sorted(s.name for s in spans) == ["aga.audit register", "retrieval"]
            for s in spans:
                assert s.instrumentation_scope.name == "aga_otel.tracing"
                assert s.resource.attributes["service.name"] == "the-app"
                assert s.attributes[sc.A_MODEL_TYPE] == MODEL
            # What must stay local still works: the audit trail and the JSON lines.
            (row,) = stack.audit_storage.query(operation="register")
            assert row["success"] is True
            lines = read_json_lines(tmp_path / "aga.log")
            assert sorted(line["event"] for line in lines) == ["aga.audit", "aga.retrieval"]
            assert {line["service.name"] for line in lines} == {stack.config.service_name}
            # aga-otel's own OTLP exporters were not built: nothing is exported twice.
            assert "otlp" not in stack.get_stats()["logs"]
            assert "otlp" not in stack.get_stats()["traces"]
            assert rx.received.requests["logs"] == rx.received.requests["traces"] == []
        finally:
            instrumentor.uninstrument()

    assert get_global_stack() is None
    before = len(app.records())
    emit_retrieval_and_audit(plugin)  # the bus is no longer subscribed
    time.sleep(0.3)
    assert len(app.records()) == before
    # uninstrument() left the application's providers running.
    app.logger_provider.get_logger("app").emit(body="the app still logs")
    with app.tracer_provider.get_tracer("app").start_as_current_span("app-span"):
        pass
    assert app.records()[-1].log_record.body == "the app still logs"
    assert app.spans.get_finished_spans()[-1].name == "app-span"


@pytest.mark.usefixtures("isolated")
@pytest.mark.parametrize(
    ("settings", "expected"),
    [
        ({"log_level": "WARNING"}, ["aga.audit"]),  # only the failed audit is a WARN
        ({"log_enabled": False}, []),
    ],
)
def test_level_and_log_enabled_gate_the_app_provider_not_the_audit_trail(app, settings,
                                                                       expected):  # fmt: skip
    instrumentor = AgaInstrumentor()
    instrumentor.instrument(
        logger_provider=app.logger_provider, prometheus_enabled=False, health_enabled=False,
        **settings,
    )  # fmt: skip
    try:
        plugin = SimulatedPlugin()
        stack = setup_observability(plugin.event_bus, plugin.config)
        emit_retrieval_and_audit(plugin, success=True)
        emit_retrieval_and_audit(plugin, success=False)
        assert stack.force_flush()
        assert [r.log_record.event_name for r in app.records()] == expected
        assert len(stack.audit_storage.query(operation="register")) == 2  # both stored
    finally:
        instrumentor.uninstrument()


def test_model_type_on_otlp_records_spans_and_json_lines(make_stack, tmp_path):
    """aga-otel's own pipelines (no application provider): a real OTLP export and the local
    JSON file; nothing before a plugin with a model is bound."""
    with GrpcReceiver() as rx:
        config = local_config(
            otlp_endpoint=rx.endpoint, otlp_metrics_enabled=False, tracing_enabled=True,
            log_enabled=True,
            log_file=str(tmp_path / "aga.log"), log_format="json",
        )  # fmt: skip
        plugin = SimulatedPlugin()
        stack = make_stack(plugin.event_bus, config)
        emit_retrieval_and_audit(plugin)  # no plugin bound yet
        assert stack.force_flush()
        plugin.attach(MODEL, 2)
        stack.bind_plugin(plugin)
        emit_retrieval_and_audit(plugin)
        assert stack.force_flush()

        got = rx.received
        got.wait_for("logs", lambda reqs: len(got.log_records()) >= 4)
        got.wait_for("traces", lambda reqs: len(got.spans()) >= 4)
        for items in (got.log_records(), got.spans()):
            models = [attrs(item.attributes).get(sc.A_MODEL_TYPE) for item in items]
            assert Counter(models) == {MODEL: 2, None: 2}
        lines = read_json_lines(tmp_path / "aga.log")
        models = [line["attributes"].get(sc.A_MODEL_TYPE) for line in lines]
        assert Counter(models) == {MODEL: 2, None: 2}


class RefusingProcessor(SimpleLogRecordProcessor):
    """An application processor that raises on every record."""

    def on_emit(self, log_record) -> None:
        raise RuntimeError("the application's processor is broken")


def test_a_failing_app_provider_degrades_only_its_own_status(make_stack, tmp_path):
    provider = LoggerProvider()
    provider.add_log_record_processor(RefusingProcessor(InMemoryLogRecordExporter()))
    plugin = SimulatedPlugin()
    config = local_config(log_enabled=True, log_file=str(tmp_path / "aga.log"),
                          audit_storage_backend="sqlite",
                          audit_storage_path=str(tmp_path / "audit.db"))  # fmt: skip
    stack = make_stack(plugin.event_bus, config, logger_provider=provider)
    emit_retrieval_and_audit(plugin)
    assert stack.force_flush()
    stats = stack.get_stats()
    assert stats["logs"]["app_errors"] == 2 and stats["logs"]["errors"] == 0
    assert stats["components"]["logs.app"]["status"] == "degraded"
    assert len(stack.audit_storage.query(operation="register")) == 1  # the trail is intact
    assert len(read_json_lines(tmp_path / "aga.log")) == 2  # and the local lines
    provider.shutdown()
