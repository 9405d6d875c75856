"""The bulk forward aggregation gives exactly what the SDK's own instruments give.

A reference pipeline records every forward event the old way — one ``add`` and three
``record`` calls per event on a plain SDK MeterProvider with an InMemoryMetricReader and
the trace-based exemplar filter — and the stack's output is compared with it: the data
points of the shared reader, a real HTTP scrape of ``/metrics`` and what a real OTLP
receiver gets (counts, sums, bucket counts, min/max, exemplars), for hostile values, many
attribute sets and several emitting threads.
"""

from __future__ import annotations

import math
import random
import threading
import urllib.request

import pytest
from conftest import local_config
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.sdk.metrics import MeterProvider, TraceBasedExemplarFilter
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from otlp_receiver import GrpcReceiver, attrs
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from aga_otel import semconv as sc
from aga_otel.contract import EventBus
from aga_otel.exporters.prometheus import SnapshotCollector
from aga_otel.mapping import parse_forward
from aga_otel.metrics.recorder import create_instrument

FORWARD_KEYS = ("forward", "forward_duration", "gate_value", "entropy_value")
NAMES = {sc.BY_KEY[k].name for k in FORWARD_KEYS}


class Numpyish:
    """A scalar with ``__float__`` only (numpy/torch scalars behave like this)."""

    def __init__(self, value: float) -> None:
        self.value = value

    def __float__(self) -> float:
        return self.value


class Broken:
    """A tensor after a CUDA fault: reading it raises."""

    def __float__(self) -> float:
        raise RuntimeError("CUDA error: an illegal memory access was encountered")


def event_stream(n: int, layers: int, seed: int) -> list[dict]:
    """Valid forward data with every edge the mapping has, and hostile values mixed in."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        d = {
            "aga_applied": rng.random() < 0.3,
            "gate_mean": rng.choice([rng.random(), 0.0, 1.0, 0.05, 0.5]),  # bounds exactly
            "entropy_mean": rng.uniform(0, 9),
            "layer_idx": rng.randrange(layers),
            "latency_us": rng.choice([rng.uniform(1, 20_000), 5.0, 10.0, 0.0, 80_000.0]),
        }
        k = i % 17
        if k == 1:
            d["gate_mean"] = float("nan")
        elif k == 2:
            d["latency_us"] = -3.0
        elif k == 3:
            d["entropy_mean"] = 1e308  # past the mapping's bound
        elif k == 4:
            d["gate_mean"] = Numpyish(0.25)  # slow path, still valid
        elif k == 5:
            d["latency_us"] = 120  # an int, still valid
        elif k == 6:
            d["gate_mean"] = Broken()
        elif k == 7:
            del d["aga_applied"]
        elif k == 8:
            d["layer_idx"] = 10**9
        elif k == 9:
            d["aga_applied"] = 1  # 0/1 ints are accepted as flags
        elif k == 10:
            d["latency_us"] = float("inf")
        out.append(d)
    return out


class Reference:
    """The SDK's own per-measurement path, as aga-otel recorded before bulk aggregation."""

    def __init__(self) -> None:
        self.reader = InMemoryMetricReader()
        provider = MeterProvider(
            metric_readers=[self.reader], exemplar_filter=TraceBasedExemplarFilter()
        )
        meter = provider.get_meter("reference")
        self.forward, self.dur, self.gate, self.ent = (
            create_instrument(meter, sc.BY_KEY[k]) for k in FORWARD_KEYS
        )
        self.malformed = 0

    def record(self, data: dict, ctx=None) -> None:
        s = parse_forward(data, 1024)
        if s is None:
            self.malformed += 1
            return
        a = {sc.ATTR_LAYER: str(s.layer)}
        self.forward.add(1, {**a, sc.ATTR_APPLIED: "true" if s.applied else "false"})
        self.dur.record(s.duration_s, a, ctx)
        self.gate.record(s.gate, a)
        self.ent.record(s.entropy, a)

    def data(self):
        return self.reader.get_metrics_data()


def points(data, names=NAMES, digits: int | None = 6) -> dict:
    """{(metric name, attributes): comparable point} for the metrics of ``names``
    (histogram sums rounded to ``digits``; None: exact)."""
    out = {}
    for rm in data.resource_metrics:
        for sm in rm.scope_metrics:
            for m in sm.metrics:
                if m.name not in names:
                    continue
                for p in m.data.data_points:
                    key = (m.name, tuple(sorted(p.attributes.items())))
                    if hasattr(p, "bucket_counts"):
                        total = p.sum if digits is None else round(p.sum, digits)
                        out[key] = (p.count, total, tuple(p.bucket_counts),
                                    p.min, p.max, tuple(p.explicit_bounds))  # fmt: skip
                    else:
                        out[key] = p.value
    return out


def recorded_both_ways(make_stack, stream: list[dict], threads: int):
    """``(stack, reference)``: the stream through a stack from ``threads`` emitting
    threads, and through the SDK reference."""
    ref = Reference()
    for d in stream:
        ref.record(d)
    bus = EventBus()
    stack = make_stack(bus, local_config())
    chunks = [stream[i::threads] for i in range(threads)]
    workers = [
        threading.Thread(target=lambda c=c: [bus.emit("forward", d) for d in c]) for c in chunks
    ]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    assert stack.force_flush(10)
    return stack, ref


def test_same_points_as_the_sdk_for_hostile_values_many_layers_and_threads(make_stack):
    stack, ref = recorded_both_ways(make_stack, event_stream(6000, layers=48, seed=3), 4)
    ours, theirs = points(stack.reader.snapshot()), points(ref.data())
    assert len(theirs) > 48 * 3  # every layer, both applied values, three histograms
    assert ours == theirs
    assert stack.get_stats()["bridge"]["dropped"]["malformed"] == ref.malformed > 0


def scrape_families(text: str) -> dict:
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name.startswith(("aga_forward", "aga_gate", "aga_entropy")):
                out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def test_same_prometheus_scrape_as_the_sdk(make_stack):
    stack, ref = recorded_both_ways(make_stack, event_stream(3000, layers=20, seed=5), 3)
    with urllib.request.urlopen(f"http://127.0.0.1:{stack.prometheus.port}/metrics") as r:
        ours = scrape_families(r.read().decode())
    registry = CollectorRegistry(auto_describe=False)
    registry.register(SnapshotCollector(ref.data))
    theirs = scrape_families(generate_latest(registry).decode())
    assert len(theirs) > 20 * 3 * 18
    assert ours.keys() == theirs.keys()
    for key, value in theirs.items():
        assert ours[key] == pytest.approx(value, rel=1e-9), key


def test_same_otlp_points_and_exemplars_as_the_sdk(make_stack):
    """Traced events through a full OTLP export; the exemplars are the SDK's."""
    stream = [d for d in event_stream(2000, layers=6, seed=9) if parse_forward(d, 1024)]
    app = TracerProvider().get_tracer("app")
    ref = Reference()
    with GrpcReceiver() as receiver:
        bus = EventBus()
        stack = make_stack(bus, local_config(otlp_endpoint=receiver.endpoint,
                                             tracing_enabled=True, export_interval=3600))  # fmt: skip
        spans = []
        for i in range(0, len(stream), 100):
            with app.start_as_current_span(f"request {i}") as span:
                spans.append(span.get_span_context())
                for d in stream[i : i + 100]:
                    bus.emit("forward", d)
                    ref.record(d, otel_context.get_current())
        assert stack.force_flush(10)
        got = receiver.received
        name = sc.BY_KEY["forward_duration"].name
        got.wait_for("metrics", lambda reqs: got.metric_points(name))
        ours = {tuple(sorted(attrs(p.attributes).items())): p for p in got.metric_points(name)}
        stack.shutdown()  # while the receiver still listens
    theirs = {
        tuple(sorted(p.attributes.items())): p
        for m in ref.data().resource_metrics[0].scope_metrics[0].metrics
        if m.name == name
        for p in m.data.data_points
    }
    assert ours.keys() == theirs.keys() and len(ours) == 6
    for key, ref_point in theirs.items():
        p = ours[key]
        assert (p.count, list(p.bucket_counts)) == (ref_point.count, list(ref_point.bucket_counts))
        assert math.isclose(p.sum, ref_point.sum, rel_tol=1e-12)
        assert (p.min, p.max) == (ref_point.min, ref_point.max)
        got_ex = sorted(
            (e.as_double, int.from_bytes(e.trace_id, "big"), int.from_bytes(e.span_id, "big"))
            for e in p.exemplars
        )
        want_ex = sorted((e.value, e.trace_id, e.span_id) for e in ref_point.exemplars)
        assert got_ex == want_ex and want_ex
    assert {t for _, t, _ in got_ex} <= {s.trace_id for s in spans}
    assert not trace.get_current_span().get_span_context().is_valid


def test_full_stack_every_consumer_gets_its_exemplars(make_stack, tmp_path):
    """Alerts and health snapshot often; OTLP exports rarely; /metrics is scraped: the
    exemplars reach both exporters (the SDK's reservoirs would go to whoever collects first)."""
    app = TracerProvider().get_tracer("app")
    with GrpcReceiver() as receiver:
        bus = EventBus()
        stack = make_stack(bus, local_config(
            otlp_endpoint=receiver.endpoint, tracing_enabled=True, export_interval=4.0,
            alert_enabled=True, alert_evaluation_interval=0.5, health_enabled=True,
            log_enabled=True, log_file=str(tmp_path / "aga.log"),
            audit_storage_backend="sqlite", audit_storage_path=str(tmp_path / "audit.db"),
        ))  # fmt: skip
        with app.start_as_current_span("POST /generate") as request:
            for d in event_stream(300, layers=4, seed=1):
                bus.emit("forward", d)
        trace_id = request.get_span_context().trace_id
        # Several alert/health snapshots happen before the first OTLP export (no flush).
        name = sc.BY_KEY["forward_duration"].name
        got = receiver.received
        got.wait_for("metrics", lambda reqs: any(p.exemplars for p in got.metric_points(name)))
        exemplars = [e for p in got.metric_points(name) for e in p.exemplars]
        assert {int.from_bytes(e.trace_id, "big") for e in exemplars} == {trace_id}
        assert stack.alert_manager.stats()["evaluations"] >= 2

        req = urllib.request.Request(
            f"http://127.0.0.1:{stack.prometheus.port}/metrics",
            headers={"Accept": "application/openmetrics-text; version=1.0.0"},
        )
        with urllib.request.urlopen(req) as resp:
            text = resp.read().decode()
        stack.shutdown()
    from prometheus_client.openmetrics.parser import text_string_to_metric_families as om

    bucket = sc.prom("forward_duration").removesuffix("_total") + "_bucket"
    found = [
        s.exemplar
        for family in om(text)
        for s in family.samples
        if s.name == bucket and s.exemplar is not None
    ]
    assert found and {int(e.labels["trace_id"], 16) for e in found} == {trace_id}


RARE_KEYS = ("retrieval", "retrieval_results", "retrieval_injected", "audit_operations",
             "retrieval_score")  # fmt: skip


def rare_stream(n: int, seed: int) -> list[tuple[str, dict]]:
    """Retrieval and audit events, valid and hostile, across layers and operations."""
    rng = random.Random(seed)
    out: list[tuple[str, dict]] = []
    for i in range(n):
        if i % 3 == 0:
            op = rng.choice(["register", "unregister", "update", "weird-op", ""])
            out.append(("audit", {"operation": op, "success": rng.random() < 0.8,
                                  "error": None, "details": {"id": f"k{i}"}}))  # fmt: skip
            continue
        results = rng.randrange(0, 6)
        scores = [rng.choice([rng.random(), 0.0, 1.0, 0.5, float("nan"), 2.0, -1.0, None])
                  for _ in range(results)]  # fmt: skip
        d = {"layer_idx": rng.randrange(8), "results_count": results,
             "injected_count": rng.randrange(0, results + 1), "scores": scores}  # fmt: skip
        if i % 29 == 1:
            d["injected_count"] = results + 1  # more injected than found: malformed
        elif i % 29 == 2:
            d["layer_idx"] = -1
        out.append(("retrieval", d))
    return out


def test_same_retrieval_and_audit_points_as_the_sdk(make_stack):
    """Retrieval and audit counts are aggregated outside the SDK too: the same points as
    the SDK's instruments fed the way aga-otel fed them (per batch, per layer)."""
    from aga_otel.metrics.recorder import MetricsRecorder

    stream = rare_stream(3000, seed=11)
    reader = InMemoryMetricReader()
    sdk = MetricsRecorder(MeterProvider(metric_readers=[reader]).get_meter("ref"),
                          per_event=True)  # fmt: skip
    bus = EventBus()
    stack = make_stack(bus, local_config())
    batch = []
    for etype, d in stream:
        bus.emit(etype, d)
        batch.append(SimpleEvent(etype, d))
        if len(batch) == 50:  # the batches differ from the worker's: sums do not care
            sdk.handle_batch(batch)
            batch = []
    sdk.handle_batch(batch)
    assert stack.force_flush(10)
    names = {sc.BY_KEY[k].name for k in RARE_KEYS}
    ours = points(stack.reader.snapshot(), names, None)
    theirs = points(reader.get_metrics_data(), names, None)
    assert len(theirs) > 8 * 3 + 5  # every layer's three counters, the operations, scores
    assert ours.keys() == theirs.keys()
    for key, value in theirs.items():
        if isinstance(value, tuple):  # the score sum: added in another grouping of batches
            assert ours[key][2:] == value[2:] and ours[key][0] == value[0], key
            assert math.isclose(ours[key][1], value[1], rel_tol=1e-12), key
        else:
            assert ours[key] == value, key


class SimpleEvent:
    def __init__(self, etype: str, data: dict) -> None:
        self.type, self.data, self.timestamp = etype, data, 0.0
