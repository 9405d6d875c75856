"""Trace correlation end to end: bus → bridge (context capture) → OTLP receiver.

Real parts only: the contract EventBus, an EventBridge with the metrics recorder, the log
pipeline and the trace pipeline as sinks, a real MeterProvider exporting over OTLP, and
the real OTLP receiver on loopback. The "serving framework" is an application
TracerProvider of its own (never global) whose request span is current while AGA emits.
"""

from __future__ import annotations

import json

import pytest
from conftest import local_config
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import StatusCode
from otlp_receiver import GrpcReceiver, HttpReceiver, attrs

from aga_otel import semconv as sc
from aga_otel.bridge import EventBridge
from aga_otel.contract import EventBus
from aga_otel.exporters.otlp import create_metric_exporter
from aga_otel.logs import build_log_pipeline
from aga_otel.metrics.app_provider import feed_readers
from aga_otel.metrics.reader import SharedMetricReader
from aga_otel.metrics.recorder import MetricsRecorder
from aga_otel.status import Status, StatusBoard
from aga_otel.tracing import build_tracing

RESOURCE = Resource.create({"service.name": "aga-trace-test"})
DURATION = sc.BY_KEY["forward_duration"].name


def forward(layer: int, latency_us: float = 250.0) -> dict:
    return {"aga_applied": True, "gate_mean": 0.6, "entropy_mean": 3.1,
            "layer_idx": layer, "latency_us": latency_us}  # fmt: skip


RETRIEVAL = {"layer_idx": 2, "results_count": 4, "injected_count": 1, "budget_remaining": 3,
             "ids": ["secret-id"], "scores": [0.9, 0.5, 0.4, 0.1]}  # fmt: skip
FAILED_AUDIT = {"operation": "register", "details": {"id": "k"}, "success": False,
                "error": "slot budget exhausted " + "x" * 2000, "timestamp": 1_700_000_000.5}  # fmt: skip


class Wired:
    """Bridge + sinks + providers as the stack wires them, against one receiver."""

    def __init__(self, endpoint: str, protocol: str, **overrides) -> None:
        self.config = local_config(
            otlp_endpoint=endpoint, otlp_protocol=protocol, log_enabled=True,
            log_level="DEBUG", tracing_enabled=True, trace_retrieval_documents=True, **overrides,
        ).resolve(env={})  # fmt: skip
        self.status = StatusBoard()
        # An application's own exporting reader next to the shared one: the forward metrics
        # (aggregated outside the SDK) reach it through the producer feed.
        shared = SharedMetricReader()
        periodic = PeriodicExportingMetricReader(
            create_metric_exporter(self.config), export_interval_millis=3_600_000
        )
        self.meter_provider = MeterProvider(resource=RESOURCE, metric_readers=[shared, periodic])
        meter = self.meter_provider.get_meter("test")
        recorder = MetricsRecorder(meter, exemplars=True)
        for producer in recorder.producers:
            shared.add_producer(producer, RESOURCE, InstrumentationScope("test"))
        feed_readers(self.meter_provider, meter, recorder, [periodic])
        self.logs = build_log_pipeline(self.config, self.status, RESOURCE)
        self.tracing = build_tracing(self.config, self.status, RESOURCE)
        sinks = [recorder, self.logs, self.tracing]
        self.bridge = EventBridge(sinks, status=self.status, capture_context=True)
        self.bus = EventBus()
        self.bridge.subscribe(self.bus)
        self.bridge.start()

    def flush(self) -> None:
        assert self.bridge.drain(10)
        assert self.tracing.flush(10)
        assert self.logs.flush(10)
        assert self.meter_provider.force_flush(10_000)

    def close(self) -> None:
        self.bridge.stop(5)
        self.tracing.shutdown(5)
        self.logs.shutdown(5)
        self.meter_provider.shutdown()


@pytest.fixture(params=["grpc", "http/protobuf"])
def receiver(request):
    cls = GrpcReceiver if request.param == "grpc" else HttpReceiver
    with cls() as rx:
        rx.protocol = request.param
        yield rx


def test_active_span_reaches_spans_logs_and_exemplars(receiver):
    w = Wired(receiver.endpoint, receiver.protocol, trace_forward_sample_rate=1.0)
    app = TracerProvider().get_tracer("serving-framework")  # the application's, not ours
    try:
        with app.start_as_current_span("POST /generate") as request:
            req = request.get_span_context()
            for layer in range(3):
                w.bus.emit("forward", forward(layer))
            w.bus.emit("retrieval", RETRIEVAL)
            w.bus.emit("audit", FAILED_AUDIT)
        w.bus.emit("retrieval", RETRIEVAL)  # no active span: a root span, no trace on its log
        w.flush()
    finally:
        w.close()
    trace_id, span_id = req.trace_id.to_bytes(16, "big"), req.span_id.to_bytes(8, "big")

    got = receiver.received
    got.wait_for("traces", lambda reqs: len(got.spans()) >= 6)
    spans = got.spans()
    names = sorted(s.name for s in spans)
    assert names == ["aga.audit register"] + ["aga.forward"] * 3 + ["retrieval"] * 2
    children = [s for s in spans if s.trace_id == trace_id]
    assert len(children) == 5 and all(s.parent_span_id == span_id for s in children)
    (root,) = [s for s in spans if s.trace_id != trace_id]
    assert root.name == "retrieval" and root.parent_span_id == b""

    (audit,) = [s for s in spans if s.name == "aga.audit register"]
    assert audit.status.code == StatusCode.ERROR.value
    assert audit.status.message.startswith("slot budget exhausted")
    assert len(audit.status.message) < 300  # truncated
    assert audit.start_time_unix_nano == 1_700_000_000_500_000_000  # the operation's time
    retrieval_attrs = attrs(root.attributes)
    assert retrieval_attrs["aga.retrieval.injected_count"] == 1
    assert retrieval_attrs[sc.SPAN_ATTR_GENAI_OPERATION] == "retrieval"
    docs = json.loads(retrieval_attrs[sc.SPAN_ATTR_GENAI_DOCUMENTS])  # ids lists are unequal
    assert docs == [{"id": "secret-id", "score": 0.9}, {"score": 0.5}, {"score": 0.4},
                    {"score": 0.1}]  # fmt: skip
    for fwd in (s for s in spans if s.name == "aga.forward"):
        assert fwd.end_time_unix_nano - fwd.start_time_unix_nano == 250_000  # latency_us

    got.wait_for("logs", lambda reqs: len(got.log_records()) >= 6)
    records = got.log_records()
    traced = [r for r in records if r.trace_id == trace_id]
    assert len(traced) == 5 and all(r.span_id == span_id for r in traced)
    assert len([r for r in records if r.trace_id == b""]) == 1

    got.wait_for("metrics", lambda reqs: got.metric_points(DURATION))
    exemplars = [e for p in got.metric_points(DURATION) for e in p.exemplars]
    assert exemplars and all(e.trace_id == trace_id and e.span_id == span_id for e in exemplars)
    assert w.status.get("traces.otlp").status is Status.HEALTHY


def test_unsampled_forward_events_make_no_spans_but_keep_their_trace(receiver):
    w = Wired(receiver.endpoint, receiver.protocol)  # trace_forward_sample_rate 0.0
    app = TracerProvider().get_tracer("serving-framework")
    try:
        with app.start_as_current_span("request") as request:
            for layer in range(4):
                w.bus.emit("forward", forward(layer))
            w.bus.emit("audit", {"operation": "made-up-op", "success": True, "details": {}})
        w.flush()
    finally:
        w.close()
    got = receiver.received
    got.wait_for("traces")
    assert [s.name for s in got.spans()] == ["aga.audit other"]  # bounded span names
    trace_id = request.get_span_context().trace_id.to_bytes(16, "big")
    got.wait_for("metrics", lambda reqs: got.metric_points(DURATION))
    exemplars = [e for p in got.metric_points(DURATION) for e in p.exemplars]
    assert exemplars and {e.trace_id for e in exemplars} == {trace_id}


def test_no_traces_endpoint_no_spans_but_context_still_flows(receiver):
    # Tracing on for correlation only: logs and metrics go over OTLP, no span exporter.
    w = Wired(
        None, receiver.protocol, otlp_metrics_endpoint=_signal(receiver, "metrics"),
        otlp_logs_endpoint=_signal(receiver, "logs"), trace_forward_sample_rate=1.0,
    )  # fmt: skip
    app = TracerProvider().get_tracer("serving-framework")
    try:
        assert not w.tracing.exporting and w.status.get("traces.otlp") is None
        with app.start_as_current_span("request") as request:
            w.bus.emit("retrieval", RETRIEVAL)
        w.flush()
        assert w.tracing.stats()["spans_started"] == 0
    finally:
        w.close()
    got = receiver.received
    got.wait_for("logs", lambda reqs: got.log_records())
    trace_id = request.get_span_context().trace_id.to_bytes(16, "big")
    assert [r.trace_id for r in got.log_records()] == [trace_id]
    assert got.requests["traces"] == []


def _signal(receiver, signal: str) -> str:
    if receiver.protocol == "grpc":
        return receiver.endpoint
    return f"{receiver.endpoint}/v1/{signal}"
