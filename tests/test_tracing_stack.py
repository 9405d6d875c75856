"""Tracing through ObservabilityStack: the request span reaches spans, logs and exemplars."""

from conftest import local_config, simulate
from opentelemetry.sdk.trace import TracerProvider
from otlp_receiver import GrpcReceiver

from aga_otel import semconv as sc


def run(plugin, make_stack, receiver, tracing: bool):
    cfg = local_config(
        otlp_endpoint=receiver.endpoint,
        log_enabled=True,
        log_level="INFO",
        tracing_enabled=tracing,
        trace_forward_sample_rate=0.5,
    )
    stack = make_stack(plugin.event_bus, cfg)
    app = TracerProvider().get_tracer("serving-app")  # the application's own, not global
    with app.start_as_current_span("POST /generate") as request:
        simulate(plugin, steps=40, layers=2, audit_probability=0.3)
    stack.shutdown()
    return request.get_span_context()


def test_request_span_is_parent_of_spans_and_on_logs_and_exemplars(plugin, make_stack):
    with GrpcReceiver() as receiver:
        ctx = run(plugin, make_stack, receiver, tracing=True)
        got = receiver.received
        got.wait_for("traces")
        spans = got.spans()
        names = {s.name for s in spans}
        assert "retrieval" in names and any(n.startswith("aga.audit ") for n in names)
        assert "aga.forward" in names  # sampled forward spans
        assert all(s.trace_id == ctx.trace_id.to_bytes(16, "big") for s in spans)
        assert all(s.parent_span_id == ctx.span_id.to_bytes(8, "big") for s in spans)
        logs = [r for r in got.log_records() if r.event_name == "aga.audit"]
        assert logs and all(r.trace_id == ctx.trace_id.to_bytes(16, "big") for r in logs)
        points = got.metric_points(sc.metric("forward_duration").name)
        exemplars = [e for p in points for e in p.exemplars]
        assert exemplars
        assert all(e.trace_id == ctx.trace_id.to_bytes(16, "big") for e in exemplars)


def test_without_tracing_no_spans_no_exemplars_but_records_keep_the_request(plugin, make_stack):
    with GrpcReceiver() as receiver:
        ctx = run(plugin, make_stack, receiver, tracing=False)
        got = receiver.received
        got.wait_for("metrics")
        assert got.spans() == []
        points = got.metric_points(sc.metric("forward_duration").name)
        assert points and not any(p.exemplars for p in points)
        # Retrieval and audit events always carry the emitter's context (they are rare),
        # so their records correlate with the application's trace even with tracing off.
        records = got.log_records()
        assert records and {r.trace_id for r in records} == {ctx.trace_id.to_bytes(16, "big")}
