"""OTLP over gRPC and HTTP into a real receiver built on opentelemetry-proto."""

import socket
import threading
import time

import pytest
from conftest import local_config, simulate
from otlp_receiver import GrpcReceiver, HttpReceiver, attrs

from aga_otel import semconv as sc
from aga_otel.status import Status


@pytest.mark.parametrize(
    ("receiver_cls", "protocol"), [(GrpcReceiver, "grpc"), (HttpReceiver, "http/protobuf")]
)
def test_received_points_equal_what_was_emitted(plugin, make_stack, receiver_cls, protocol):
    with receiver_cls() as receiver:
        cfg = local_config(
            otlp_endpoint=receiver.endpoint,
            otlp_protocol=protocol,
            export_interval=60,
            otlp_headers={"x-tenant": "t1"},
            service_name="otlp-test",
            resource_attributes={"region": "eu"},
        )
        stack = make_stack(plugin.event_bus, cfg)
        sim = simulate(plugin, steps=50, layers=3)
        stack.shutdown()  # no explicit flush: shutdown drains the queue and exports
        got = receiver.received
        got.wait_for("metrics")
        points = got.metric_points(sc.metric("forward").name)
        forward = {
            (int(attrs(p.attributes)["layer"]), attrs(p.attributes)["applied"] == "true"): p.as_int
            for p in points
        }
        assert forward == dict(sim.totals.forward)
        hist = got.metric_points(sc.metric("forward_duration").name)
        assert sum(p.count for p in hist) == len(sim.totals.latency_us)
        assert sum(p.sum for p in hist) == pytest.approx(sum(sim.totals.latency_us) / 1e6)
        resource = attrs(got.resources("metrics")[0].attributes)
        assert resource["service.name"] == "otlp-test" and resource["region"] == "eu"
        assert resource["service.instance.id"] == stack.instance_id
        assert got.headers[0].get("x-tenant") == "t1"
        units = {
            m.name: m.unit
            for req in got.requests["metrics"]
            for rm in req.resource_metrics
            for sm in rm.scope_metrics
            for m in sm.metrics
        }
        assert units[sc.metric("forward_duration").name] == "s"
        assert units[sc.metric("gate_value").name] == ""  # no "1": no _ratio downstream


def test_delta_temporality_sends_differences(plugin, make_stack):
    with GrpcReceiver() as receiver:
        cfg = local_config(
            otlp_endpoint=receiver.endpoint, export_interval=60, temporality_preference="delta"
        )
        stack = make_stack(plugin.event_bus, cfg)
        simulate(plugin, steps=10, layers=2)
        stack.force_flush()
        simulate(plugin, steps=5, layers=2, seed=8)
        stack.force_flush()
        stack.shutdown()
        received = receiver.received.wait_for("metrics", lambda r: len(r) >= 2)
        assert len(received) >= 2
        totals = [
            sum(p.as_int for p in _points(req, sc.metric("forward").name)) for req in received[:2]
        ]
        assert totals[0] >= 20 and totals[1] == 10  # second export holds only new events


def _points(request, name):
    return [
        p
        for rm in request.resource_metrics
        for sm in rm.scope_metrics
        for m in sm.metrics
        if m.name == name
        for p in m.sum.data_points
    ]


def _blackhole():
    """A TCP port that accepts connections and never answers."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(16)
    conns = []
    stop = threading.Event()

    def accept():
        srv.settimeout(0.2)
        while not stop.is_set():
            try:
                conns.append(srv.accept()[0])
            except OSError:
                continue

    threading.Thread(target=accept, daemon=True).start()
    return srv, stop, conns


@pytest.mark.parametrize("protocol", ["grpc", "http/protobuf"])
def test_unreachable_endpoint_never_blocks_the_emitter_and_shutdown_is_bounded(plugin, protocol):
    from aga_otel.stack import ObservabilityStack

    srv, stop, _ = _blackhole()
    try:
        endpoint = f"http://127.0.0.1:{srv.getsockname()[1]}"
        cfg = local_config(
            otlp_endpoint=endpoint,
            otlp_protocol=protocol,
            export_interval=0.2,
            otlp_timeout=30,
            shutdown_timeout=2,
        )
        stack = ObservabilityStack(plugin.event_bus, cfg, env={}).start()
        t0 = time.monotonic()
        simulate(plugin, steps=200, layers=4)
        emit_time = time.monotonic() - t0
        time.sleep(0.5)  # let an export start and hang
        t0 = time.monotonic()
        stack.shutdown()
        shutdown_time = time.monotonic() - t0
        stats = stack.get_stats()["bridge"]
        assert stats["dropped"]["queue_full"] == 0
        assert stats["received"] >= 200 * 4  # forward events, plus retrievals and audits
        # bounded by shutdown_timeout (2 s) plus scheduling slack, not by otlp_timeout (30 s)
        assert shutdown_time < 10, shutdown_time
        assert emit_time < 10, emit_time
    finally:
        stop.set()
        srv.close()


def test_refused_endpoint_counts_failures_and_degrades_the_component(plugin, make_stack, caplog):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens there now
    cfg = local_config(
        otlp_endpoint=f"http://127.0.0.1:{port}",
        otlp_protocol="http/protobuf",
        export_interval=60,
        otlp_timeout=1,
    )
    stack = make_stack(plugin.event_bus, cfg)
    simulate(plugin, steps=5)
    stack.force_flush()
    stack.force_flush()
    state = stack.status.get("metrics.otlp")
    assert state.status is Status.DEGRADED and state.failures >= 2
    warnings = [r for r in caplog.records if "otlp metrics export failed" in r.getMessage()]
    assert len(warnings) == 1  # one line per outage, not one per attempt
    failures = [
        p
        for rm in stack.reader.snapshot().resource_metrics
        for sm in rm.scope_metrics
        for m in sm.metrics
        if m.name == sc.metric("export_failures").name
        for p in m.data.data_points
        if p.attributes.get("exporter") == "otlp"
    ]
    assert failures and failures[0].value >= 2
