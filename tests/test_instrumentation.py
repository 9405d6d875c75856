"""Issue 13: aga-otel as an OpenTelemetry instrumentation.

The real ``opentelemetry-instrument`` command (opentelemetry-distro) runs an application that
only uses a stand-in for aga-core (tests/fixtures/aga, following the aga-core contract);
``OTEL_CONFIG_FILE`` (opentelemetry-configuration, the SDK's declarative configuration)
builds the providers and configures aga-otel in ``instrumentation/development``. In process,
``AgaInstrumentor`` with an application's own MeterProvider, and ``uninstrument()``.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import simulate
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from otlp_receiver import GrpcReceiver, attrs
from test_integration_support import isolated  # noqa: F401

from aga_otel import semconv as sc
from aga_otel.contract import SimulatedPlugin
from aga_otel.instrumentation import AgaInstrumentor
from aga_otel.integration import bind_plugin, get_global_stack, setup_observability

FIXTURES = Path(__file__).parent / "fixtures"
pytestmark = pytest.mark.usefixtures("isolated")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


BATCH_TO_RECEIVER = """
  processors:
    - batch:
        schedule_delay: 200
        exporter:
          otlp_grpc:
            endpoint: {endpoint}"""
DECLARATIVE = """
file_format: "1.0"
resource:
  attributes:
    - name: service.name
      value: decl-app
    - name: model
      value: decl-model
meter_provider:
  readers:
    - periodic:
        interval: 60000
        exporter:
          otlp_grpc:
            endpoint: {endpoint}
logger_provider:{batch_to_receiver}
tracer_provider:{batch_to_receiver}
instrumentation/development:
  python:
    aga:
      tracing_enabled: true
      health_port: {health_port}
      health_host: 127.0.0.1
      prometheus_enabled: false
      alert_default_rules: false
      alert_evaluation_interval: 0.1
      alert_rules:
        - {{name: decl_rule, metric: gate_mean, operator: ">", threshold: 0.1,
            window_seconds: 5, severity: info}}
"""


def test_opentelemetry_instrument_with_a_declarative_config_file(tmp_path):
    command = shutil.which("opentelemetry-instrument", path=str(Path(sys.executable).parent))
    assert command, "opentelemetry-instrument is missing (pip install -e '.[test]')"
    health_port = free_port()
    with GrpcReceiver() as rx:
        config = tmp_path / "otel.yaml"
        batch = BATCH_TO_RECEIVER.format(endpoint=rx.endpoint)
        config.write_text(
            DECLARATIVE.format(
                endpoint=rx.endpoint, health_port=health_port, batch_to_receiver=batch
            )
        )
        env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "AGA_OTEL"))}
        env.update(
            OTEL_CONFIG_FILE=str(config),
            # aga-otel's own OTLP exporters would push here too: the application's
            # providers must replace them (each record, span and point arrives once).
            OTEL_EXPORTER_OTLP_ENDPOINT=rx.endpoint,
            AGA_TEST_HEALTH_PORT=str(health_port),
            PYTHONPATH=os.pathsep.join([str(FIXTURES), env.get("PYTHONPATH", "")]),
        )
        out = subprocess.run(
            [command, sys.executable, str(FIXTURES / "serve_aga.py")],
            env=env, capture_output=True, text=True, timeout=120, cwd=tmp_path,
        )  # fmt: skip
        assert out.returncode == 0, out.stdout + out.stderr
        result = json.loads(out.stdout.strip().splitlines()[-1])
        assert result == {"health": 200, "bridges": 1}, out.stderr  # one stack, two plugins
        assert "alert decl_rule firing" in out.stderr  # the file's rule is in effect

        got = rx.received
        got.wait_for("metrics")
        forward = got.metric_points(sc.metric("forward").name)
        assert sum(p.as_int for p in forward) == 40 * 2 + 40  # both plugins' buses
        (info,) = got.metric_points(sc.metric("model_info").name)
        assert attrs(info.attributes) == {"model": "fixture-llama"}
        for signal in ("metrics", "logs", "traces"):  # the file's resource, nothing else
            got.wait_for(signal)
            for resource in got.resources(signal):
                assert attrs(resource.attributes)["service.name"] == "decl-app", signal
                assert attrs(resource.attributes)["model"] == "decl-model", signal

        records = scoped(got.requests["logs"], "resource_logs", "scope_logs", "log_records")
        assert {scope for scope, _ in records} == {"aga_otel.logs"}
        seen = sorted(
            (r.event_name, attrs(r.attributes).get(f"{sc.ALERT_ATTR_PREFIX}state", ""))
            for _, r in records
        )
        assert len(seen) == len(set(seen)), seen  # nothing exported twice
        assert {name for name, _ in seen} == {"aga.alert", "aga.audit", "aga.retrieval"}
        for _, record in records:
            assert attrs(record.attributes)[sc.A_MODEL_TYPE] == "fixture-llama"
        spans = scoped(got.requests["traces"], "resource_spans", "scope_spans", "spans")
        assert {scope for scope, _ in spans} == {"aga_otel.tracing"}
        assert sorted(s.name for _, s in spans) == ["aga.audit register", "retrieval"]
        for _, span in spans:
            assert attrs(span.attributes)[sc.A_MODEL_TYPE] == "fixture-llama"


def scoped(requests, resource_key: str, scope_key: str, item_key: str) -> list:
    """``(scope name, item)`` for every log record or span of the OTLP requests."""
    return [
        (scope.scope.name, item)
        for req in requests
        for res in getattr(req, resource_key)
        for scope in getattr(res, scope_key)
        for item in getattr(scope, item_key)
    ]


def test_instrument_with_an_app_meter_provider_and_uninstrument():
    reader = InMemoryMetricReader()
    provider = MeterProvider(metric_readers=[reader])
    instrumentor = AgaInstrumentor()
    plugin = SimulatedPlugin()
    early = setup_observability(plugin.event_bus, {"prometheus_port": 0, "health_port": 0})
    bind_plugin(plugin)  # a plugin built and bound before instrument()
    try:
        instrumentor.instrument(
            meter_provider=provider, prometheus_port=0, prometheus_host="127.0.0.1",
            health_enabled=False, service_name="instrumented",
        )  # fmt: skip
        stack = get_global_stack()
        assert stack is not early and stack.config.service_name == "instrumented"
        assert stack.plugin is not None  # the early plugin stays bound
        later = SimulatedPlugin()
        assert setup_observability(later.event_bus, later.config) is stack  # no second stack
        sim = simulate(plugin, steps=10, layers=2)
        stack.force_flush()
        data = reader.get_metrics_data()
        points = [
            p
            for rm in data.resource_metrics
            for sm in rm.scope_metrics
            for m in sm.metrics
            if m.name == sc.metric("forward").name
            for p in m.data.data_points
        ]
        assert sum(p.value for p in points) == sum(sim.totals.forward.values())
        # alerts, health and Prometheus still read aga-otel's private provider
        assert stack.reader is not None and stack.prometheus.port
    finally:
        instrumentor.uninstrument()
    assert get_global_stack() is None
    provider.shutdown()


def test_bad_settings_leave_instrumentation_off(caplog):
    instrumentor = AgaInstrumentor()
    try:
        instrumentor.instrument(health_port=-1)
        assert "health_port" in caplog.text and "stayed off" in caplog.text
        plugin = SimulatedPlugin()
        stack = setup_observability(plugin.event_bus, {"prometheus_port": 0, "health_port": 0})
        assert stack is not None  # the zero-code path is unaffected
    finally:
        instrumentor.uninstrument()


def test_a_malformed_event_is_counted_once_with_an_app_provider(make_stack):
    from conftest import local_config

    provider = MeterProvider(metric_readers=[InMemoryMetricReader()])
    plugin = SimulatedPlugin()
    stack = make_stack(plugin.event_bus, local_config(), meter_provider=provider)
    plugin.event_bus.emit("forward", {"layer_idx": "not a layer"})
    simulate(plugin, steps=2, layers=2)
    stack.force_flush()
    assert stack.get_stats()["bridge"]["dropped"]["malformed"] == 1
    provider.shutdown()


def test_app_gauges_follow_the_current_stack_across_rebuilds():
    reader = InMemoryMetricReader()
    provider = MeterProvider(metric_readers=[reader])
    instrumentor = AgaInstrumentor()
    settings = {"prometheus_enabled": False, "health_enabled": False}

    def knowledge_count():
        data = reader.get_metrics_data()
        return [
            p.value
            for rm in data.resource_metrics
            for sm in rm.scope_metrics
            for m in sm.metrics
            if m.name == sc.metric("knowledge_count").name
            for p in m.data.data_points
        ]

    try:
        for items in (1, 3):  # instrument, uninstrument, instrument again: same provider
            instrumentor.instrument(meter_provider=provider, **settings)
            plugin = SimulatedPlugin()
            for i in range(items):
                plugin.add_knowledge(f"fact-{i}")
            setup_observability(plugin.event_bus, plugin.config)
            bind_plugin(plugin)
            assert knowledge_count() == [items]  # the new stack's plugin, not the first one's
            instrumentor.uninstrument()
    finally:
        if instrumentor.is_instrumented_by_opentelemetry:
            instrumentor.uninstrument()
        provider.shutdown()
