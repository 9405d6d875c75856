"""Issue 22: an application's MeterProvider fed by aga-otel's aggregations, equal to the SDK.

``ObservabilityStack(meter_provider=app)`` (what ``AgaInstrumentor`` and
``opentelemetry-instrument`` give) no longer records every event through the app's SDK
instruments: its readers get the stack's own aggregations at each collection
(``aga_otel/metrics/feed.py``). Every test builds a *reference* next to it: a second
provider with the same readers, views and filter, into which the same events are recorded
per event — the fallback path, which is what the SDK itself makes of them — and compares
what each kind of reader gets: in memory (cumulative, delta, mixed), OTLP gRPC/HTTP to a
real receiver (with the standard temporality variable), the console exporter, the
application's own ``PrometheusMetricReader`` scraped, views, exemplars, and a provider
shared by several stacks and re-instrumented.
"""

from __future__ import annotations

import io
import json
import logging
import math
import random
import urllib.request

import pytest
from conftest import local_config
from opentelemetry import context as otel_context
from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter as GrpcExp
from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter as HttpExp
from opentelemetry.sdk import version as sdk_version
from opentelemetry.sdk.metrics import AlwaysOffExemplarFilter, Counter, Histogram, MeterProvider
from opentelemetry.sdk.metrics._internal.aggregation import (
    _ExplicitBucketHistogramAggregation,
)
from opentelemetry.sdk.metrics._internal.metric_reader_storage import MetricReaderStorage
from opentelemetry.sdk.metrics._internal.view import View as InternalView
from opentelemetry.sdk.metrics.export import (
    AggregationTemporality,
    ConsoleMetricExporter,
    InMemoryMetricReader,
    MetricReader,
    PeriodicExportingMetricReader,
)
from opentelemetry.sdk.metrics.view import (
    DropAggregation,
    ExplicitBucketHistogramAggregation,
    ExponentialBucketHistogramAggregation,
    SumAggregation,
    View,
)
from opentelemetry.sdk.trace import TracerProvider
from otlp_receiver import GrpcReceiver, HttpReceiver, attrs
from prometheus_client import REGISTRY, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from aga_otel import semconv as sc
from aga_otel._version import __version__
from aga_otel.contract import EventBus
from aga_otel.metrics import feed
from aga_otel.metrics.app_provider import FED_KEYS
from aga_otel.metrics.forward import ForwardAggregator
from aga_otel.metrics.recorder import MetricsRecorder, create_instrument

DELTA = AggregationTemporality.DELTA
FED = {sc.BY_KEY[k].name for k in FED_KEYS}
DUR, GATE, ENT = (sc.BY_KEY[k].name for k in ("forward_duration", "gate_value", "entropy_value"))
SCORE, FORWARD = sc.BY_KEY["retrieval_score"].name, sc.BY_KEY["forward"].name


class Event:
    def __init__(self, etype: str, data: dict) -> None:
        self.type, self.data, self.timestamp = etype, data, 0.0


def stream(n: int, seed: int, layers: int = 6) -> list[tuple[str, dict]]:
    """Forward events (some malformed), retrievals with scores, audits."""
    rng = random.Random(seed)
    out: list[tuple[str, dict]] = []
    for i in range(n):
        if i % 23 == 0:
            out.append(("audit", {"operation": rng.choice(["register", "update"]),
                                  "success": rng.random() < 0.8, "error": None,
                                  "details": {"id": f"k{i}"}}))  # fmt: skip
        elif i % 7 == 0:
            k = rng.randrange(0, 4)
            out.append(("retrieval", {"layer_idx": rng.randrange(layers), "results_count": k,
                                      "injected_count": rng.randrange(0, k + 1),
                                      "scores": [rng.random() for _ in range(k)]}))  # fmt: skip
        else:
            d = {"layer_idx": rng.randrange(layers), "aga_applied": rng.random() < 0.3,
                 "gate_mean": rng.random(), "entropy_mean": rng.uniform(0, 9),
                 "latency_us": rng.uniform(1, 20_000)}  # fmt: skip
            if i % 31 == 1:
                d["gate_mean"] = float("nan")  # malformed: counted, not recorded
            out.append(("forward", d))
    return out


class Pair:
    """The stack on the application's provider, and the per-event reference beside it."""

    def __init__(self, make_stack, readers, ref_readers, views=(), config=None, **provider_kw):
        self.app = MeterProvider(metric_readers=readers, views=views, **provider_kw)
        self.ref = MeterProvider(metric_readers=ref_readers, views=views, **provider_kw)
        self.readers, self.ref_readers = readers, ref_readers
        self.recorder = MetricsRecorder(self.ref.get_meter(sc.METER_NAME, __version__),
                                        per_event=True)  # fmt: skip
        self.bus = EventBus()
        self.stack = make_stack(self.bus, config or local_config(), meter_provider=self.app)

    def emit(self, events: list[tuple[str, dict]]) -> None:
        for etype, d in events:
            self.bus.emit(etype, d)
        for i in range(0, len(events), 64):
            self.recorder.handle_batch([Event(t, d) for t, d in events[i : i + 64]])
        assert self.stack.force_flush(10)

    def shutdown(self) -> None:
        self.app.shutdown()
        self.ref.shutdown()


def points(data, names=None) -> dict:
    """{(metric, attributes): comparable point} of our event metrics (and ``names``)."""
    out = {}
    wanted = FED | set(names or ())
    for rm in data.resource_metrics if data else ():
        for sm in rm.scope_metrics:
            for m in sm.metrics:
                if m.name not in wanted:
                    continue
                temporality = getattr(m.data, "aggregation_temporality", None)
                for p in m.data.data_points:
                    key = (m.name, tuple(sorted(p.attributes.items())))
                    assert key not in out, key  # one point per series
                    if hasattr(p, "bucket_counts"):
                        out[key] = (temporality, p.count, round(p.sum, 6), tuple(p.bucket_counts),
                                    p.min, p.max, tuple(p.explicit_bounds))  # fmt: skip
                    else:
                        value = round(p.value, 6) if isinstance(p.value, float) else p.value
                        out[key] = (temporality, value)
    return out


def assert_equal_points(ours: dict, theirs: dict, at_least: int = 1) -> None:
    assert len(theirs) >= at_least
    assert ours.keys() == theirs.keys()
    for key, value in theirs.items():
        assert ours[key] == value, key


def test_the_sdk_internals_the_feed_reads_are_there():
    """Fails loudly when the pinned SDK moves: the feed is written against these."""
    assert sdk_version.__version__.startswith(feed.SDK_SERIES), (
        f"opentelemetry-sdk {sdk_version.__version__}: re-check aga_otel/metrics/feed.py "
        "against the new SDK's internals, or adopt the upstream MetricProducer"
    )
    reader = InMemoryMetricReader()
    provider = MeterProvider(metric_readers=[reader])
    for attr in ("views", "resource", "exemplar_filter"):
        assert hasattr(provider._sdk_config, attr)
    assert list(provider._metric_readers) == [reader]
    assert callable(reader._collect)
    for attr in ("_instrument_class_temporality", "_instrument_class_aggregation",
                 "_instrument_class_cardinality_limit"):  # fmt: skip
        assert isinstance(getattr(reader, attr), dict)
    meter = provider.get_meter("t")
    assert meter._is_enabled() is True
    hist = create_instrument(meter, sc.BY_KEY["forward_duration"])
    storage = MetricReaderStorage(provider._sdk_config, reader._instrument_class_temporality,
                                  reader._instrument_class_aggregation,
                                  reader._instrument_class_cardinality_limit)  # fmt: skip
    (match,) = storage._get_or_init_view_instrument_match(hist)
    assert (match._name, match._description) == (DUR, hist.description)
    assert isinstance(match._aggregation, _ExplicitBucketHistogramAggregation)
    assert match._aggregation._boundaries == tuple(sc.BY_KEY["forward_duration"].buckets)
    assert match._aggregation._record_min_max is True
    assert isinstance(match._view, InternalView)
    assert hasattr(match._view, "_attribute_keys")
    assert hasattr(match._view, "_exemplar_reservoir_factory")


def test_the_feed_replaces_per_event_recording(make_stack):
    pair = Pair(make_stack, [InMemoryMetricReader()], [InMemoryMetricReader()])
    assert "metrics.app" not in [s.name for s in pair.stack.bridge.sinks]
    pair.shutdown()


@pytest.mark.parametrize("temporality", [
    {},
    {Counter: DELTA, Histogram: DELTA},
    {Counter: DELTA},  # counters delta, histograms cumulative
])  # fmt: skip
def test_in_memory_readers_get_what_the_sdk_gives(make_stack, temporality):
    ours, theirs = (InMemoryMetricReader(preferred_temporality=dict(temporality)),
                    InMemoryMetricReader(preferred_temporality=dict(temporality)))  # fmt: skip
    pair = Pair(make_stack, [ours], [theirs])
    events = stream(3000, seed=1)
    # Three intervals; the second has one retrieval that finds nothing (a delta point of
    # 0 results: the SDK's counter got an add of 0), the third no events at all.
    empty = ("retrieval", {"layer_idx": 0, "results_count": 0, "injected_count": 0, "scores": []})
    second = [e for e in events[1500:] if e[0] == "forward"] + [empty]
    for phase in (events[:1500], second, []):
        pair.emit(phase)
        got, want = points(ours.get_metrics_data()), points(theirs.get_metrics_data())
        assert_equal_points(got, want, at_least=0 if not phase and temporality else 10)
    pair.shutdown()


def test_two_delta_readers_each_get_their_own_interval(make_stack):
    """A reader collecting often does not take the delta of one collecting rarely."""
    often, rarely = (InMemoryMetricReader(preferred_temporality={Counter: DELTA, Histogram: DELTA})
                     for _ in range(2))  # fmt: skip
    ref_often, ref_rarely = (InMemoryMetricReader(
        preferred_temporality={Counter: DELTA, Histogram: DELTA}) for _ in range(2))  # fmt: skip
    pair = Pair(make_stack, [often, rarely], [ref_often, ref_rarely])
    events = stream(2400, seed=2)
    for i in range(0, 2400, 600):
        pair.emit(events[i : i + 600])
        assert_equal_points(points(often.get_metrics_data()),
                            points(ref_often.get_metrics_data()), 10)  # fmt: skip
    assert_equal_points(points(rarely.get_metrics_data()),
                        points(ref_rarely.get_metrics_data()), 10)  # fmt: skip
    pair.shutdown()


def test_views_renames_drops_attribute_filters_and_sums(make_stack):
    views = [
        View(instrument_name=DUR, name="app.aga.latency", description="renamed"),
        View(instrument_name=GATE, aggregation=DropAggregation()),
        View(instrument_name=FORWARD, attribute_keys={sc.ATTR_APPLIED}),  # layers merged
        View(
            instrument_name=ENT,
            aggregation=ExplicitBucketHistogramAggregation(
                sc.BY_KEY["entropy_value"].buckets, record_min_max=False
            ),
        ),  # fmt: skip
        View(instrument_name=SCORE, aggregation=SumAggregation()),
        View(instrument_name=ENT, name="app.entropy.all", attribute_keys=set()),  # 2nd stream
    ]
    ours, theirs = InMemoryMetricReader(), InMemoryMetricReader()
    pair = Pair(make_stack, [ours], [theirs], views=views)
    pair.emit(stream(2000, seed=3))
    extra = {"app.aga.latency", "app.entropy.all"}
    got, want = points(ours.get_metrics_data(), extra), points(theirs.get_metrics_data(), extra)
    assert_equal_points(got, want, 10)
    names = {name for name, _ in got}
    assert GATE not in names and DUR not in names and {"app.aga.latency", SCORE} <= names
    assert sorted(a for name, a in got if name == FORWARD) == [
        ((sc.ATTR_APPLIED, "false"),), ((sc.ATTR_APPLIED, "true"),)]  # fmt: skip
    pair.shutdown()


@pytest.mark.parametrize("unsupported", ["buckets", "exponential"])
def test_what_the_feed_cannot_reproduce_falls_back_to_per_event_recording(
    make_stack, caplog, unsupported
):
    if unsupported == "buckets":
        views = [View(instrument_name=DUR, aggregation=ExplicitBucketHistogramAggregation(
            [0.001, 0.01, 0.1]))]  # fmt: skip
        make = lambda: InMemoryMetricReader()  # noqa: E731
    else:
        views = []
        agg = {Histogram: ExponentialBucketHistogramAggregation()}
        make = lambda: InMemoryMetricReader(preferred_aggregation=agg)  # noqa: E731
    ours, theirs = make(), make()
    with caplog.at_level(logging.WARNING, logger="aga_otel"):
        pair = Pair(make_stack, [ours], [theirs], views=views)
    warned = [r.getMessage() for r in caplog.records if "recording every event" in r.getMessage()]
    assert len(warned) == 1 and ("buckets" in warned[0] or "Exponential" in warned[0])
    assert "metrics.app" in [s.name for s in pair.stack.bridge.sinks]
    pair.emit(stream(1000, seed=4))
    want = ours_data = None
    want, ours_data = theirs.get_metrics_data(), ours.get_metrics_data()
    names = {m.name for rm in ours_data.resource_metrics for sm in rm.scope_metrics
             for m in sm.metrics}  # fmt: skip
    assert DUR in names and names >= {
        m.name for rm in want.resource_metrics for sm in rm.scope_metrics for m in sm.metrics
    }
    pair.shutdown()


def test_exemplars_follow_the_providers_filter(make_stack):
    """Sampled spans at emit time leave exemplars on the duration histogram, as the SDK
    records them with the emitter's context; an always-off provider gets none."""
    tracer = TracerProvider().get_tracer("app")
    forward = [(t, d) for t, d in stream(900, seed=5) if t == "forward"
               and not math.isnan(d["gate_mean"])]  # fmt: skip
    cfg = local_config(tracing_enabled=True)
    ours, off = InMemoryMetricReader(), InMemoryMetricReader()
    app = MeterProvider(metric_readers=[ours])
    app_off = MeterProvider(metric_readers=[off], exemplar_filter=AlwaysOffExemplarFilter())
    ref_reader = InMemoryMetricReader()
    ref = MeterProvider(metric_readers=[ref_reader])
    dur = create_instrument(ref.get_meter("ref"), sc.BY_KEY["forward_duration"])
    bus = EventBus()
    stack = make_stack(bus, cfg, meter_provider=app)
    stack_off = make_stack(bus, cfg, meter_provider=app_off)
    for i in range(0, len(forward), 100):
        with tracer.start_as_current_span(f"request {i}"):
            for _, d in forward[i : i + 100]:
                bus.emit("forward", d)
                dur.record(d["latency_us"] * 1e-6, {sc.ATTR_LAYER: str(d["layer_idx"])},
                           otel_context.get_current())  # fmt: skip
    assert stack.force_flush(10) and stack_off.force_flush(10)

    def exemplars(reader) -> dict:
        return {tuple(sorted(p.attributes.items())): sorted(
                    (e.value, e.trace_id, e.span_id) for e in p.exemplars)
                for rm in reader.get_metrics_data().resource_metrics for sm in rm.scope_metrics
                for m in sm.metrics if m.name == DUR for p in m.data.data_points}  # fmt: skip

    want = exemplars(ref_reader)
    assert want and all(want.values())
    assert exemplars(ours) == want
    assert not any(exemplars(off).values()) and exemplars(off).keys() == want.keys()
    assert not any(exemplars(ours).values())  # the next interval: none new
    for provider in (app, app_off, ref):
        provider.shutdown()


def otlp_points(requests, wanted=FED) -> dict:
    """The comparable points of the last OTLP request with our metrics."""
    for req in reversed(requests):
        out = {}
        for rm in req.resource_metrics:
            for sm in rm.scope_metrics:
                for m in sm.metrics:
                    if m.name not in wanted:
                        continue
                    kind = m.WhichOneof("data")
                    data = getattr(m, kind)
                    temporality = AggregationTemporality(data.aggregation_temporality)
                    for p in data.data_points:
                        key = (m.name, tuple(sorted(attrs(p.attributes).items())))
                        if kind == "histogram":
                            out[key] = (temporality, p.count, round(p.sum, 6),
                                        tuple(p.bucket_counts), p.min, p.max,
                                        tuple(p.explicit_bounds))  # fmt: skip
                        else:
                            out[key] = (temporality, p.as_int)
        if out:
            return out
    return {}


@pytest.mark.parametrize("protocol", ["grpc", "http/protobuf"])
def test_otlp_exporting_readers_with_the_standard_delta_variable(make_stack, monkeypatch, protocol):
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE", "delta")
    receiver = GrpcReceiver() if protocol == "grpc" else HttpReceiver()
    with receiver:
        exporter = (GrpcExp(endpoint=receiver.endpoint, insecure=True) if protocol == "grpc"
                    else HttpExp(endpoint=receiver.endpoint + "/v1/metrics"))  # fmt: skip
        periodic = PeriodicExportingMetricReader(exporter, export_interval_millis=3_600_000)
        theirs = InMemoryMetricReader(preferred_temporality={Counter: DELTA, Histogram: DELTA})
        pair = Pair(make_stack, [periodic], [theirs])
        events = stream(2000, seed=6)
        for phase in (events[:1000], events[1000:]):
            pair.emit(phase)
            before = len(receiver.received.requests["metrics"])
            assert pair.app.force_flush(10_000)
            reqs = receiver.received.wait_for("metrics", lambda r, n=before: len(r) > n)
            assert_equal_points(otlp_points(reqs[before:]), points(theirs.get_metrics_data()), 10)
        pair.shutdown()


def test_the_console_exporter(make_stack):
    out = io.StringIO()
    periodic = PeriodicExportingMetricReader(ConsoleMetricExporter(out=out),
                                             export_interval_millis=3_600_000)  # fmt: skip
    theirs = InMemoryMetricReader()
    pair = Pair(make_stack, [periodic], [theirs])
    pair.emit(stream(800, seed=7))
    assert pair.app.force_flush(10_000)
    printed = json.loads(out.getvalue())
    got = {}
    for rm in printed["resource_metrics"]:
        for sm in rm["scope_metrics"]:
            for m in sm["metrics"]:
                for p in m["data"]["data_points"]:
                    key = (m["name"], tuple(sorted(p["attributes"].items())))
                    got[key] = p["count"] if "count" in p else p["value"]
    want = {key: value[1] for key, value in points(theirs.get_metrics_data()).items()}
    assert len(want) > 10 and {k: got.get(k) for k in want} == want
    pair.shutdown()


PROM_FED = tuple(sc.prom(k).removesuffix("_total") for k in FED_KEYS)


def scrape() -> dict:
    """Our event metrics' samples in the default prometheus_client registry."""
    out = {}
    for family in text_string_to_metric_families(generate_latest(REGISTRY).decode()):
        if family.name.startswith(PROM_FED):
            for s in family.samples:
                out[(s.name, tuple(sorted(s.labels.items())))] = round(s.value, 9)
    return out


def test_the_applications_own_prometheus_reader(make_stack):
    """opentelemetry-exporter-prometheus's reader, scraped through prometheus_client."""
    from opentelemetry.exporter.prometheus import PrometheusMetricReader

    events = stream(1500, seed=8)
    reader = PrometheusMetricReader()
    pair = Pair(make_stack, [reader], [InMemoryMetricReader()])
    pair.emit(events)
    ours = scrape()
    pair.shutdown()  # unregisters the reader's collector
    ref_reader = PrometheusMetricReader()
    ref = MeterProvider(metric_readers=[ref_reader])
    recorder = MetricsRecorder(ref.get_meter(sc.METER_NAME, __version__), per_event=True)
    recorder.handle_batch([Event(t, d) for t, d in events])
    theirs = scrape()
    ref.shutdown()
    assert len(theirs) > 6 * 3 * 16
    assert ours == theirs


def test_a_provider_shared_by_stacks_and_re_instrumented_keeps_counting(make_stack):
    ours, theirs = InMemoryMetricReader(), InMemoryMetricReader()
    pair = Pair(make_stack, [ours], [theirs])
    second = make_stack(bus2 := EventBus(), local_config(), meter_provider=pair.app)
    events = stream(1800, seed=9)
    pair.emit(events[:600])
    for t, d in events[600:1200]:  # through the second stack
        bus2.emit(t, d)
    pair.recorder.handle_batch([Event(t, d) for t, d in events[600:1200]])
    assert second.force_flush(10)
    assert_equal_points(points(ours.get_metrics_data()), points(theirs.get_metrics_data()), 10)
    pair.stack.shutdown(5)  # uninstrument, then instrument again
    third = make_stack(bus3 := EventBus(), local_config(), meter_provider=pair.app)
    for t, d in events[1200:]:
        bus3.emit(t, d)
    pair.recorder.handle_batch([Event(t, d) for t, d in events[1200:]])
    assert third.force_flush(10)
    assert_equal_points(points(ours.get_metrics_data()), points(theirs.get_metrics_data()), 10)
    pair.shutdown()


def test_a_broken_producer_costs_our_points_only(make_stack, caplog, monkeypatch):
    ours = InMemoryMetricReader()
    pair = Pair(make_stack, [ours], [InMemoryMetricReader()])
    pair.emit(stream(200, seed=10))
    assert any(name == DUR for name, _ in points(ours.get_metrics_data()))

    def broken(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(ForwardAggregator, "produce", broken)
    with caplog.at_level(logging.ERROR, logger="aga_otel"):
        data = ours.get_metrics_data()  # the SDK's own metrics (the gauges) still arrive
    assert data is not None and data.resource_metrics  # the SDK's own part
    assert not any(name == DUR for name, _ in points(data))
    assert any("producing AGA metrics" in r.getMessage() for r in caplog.records)
    assert isinstance(ours, MetricReader)
    pair.shutdown()


def test_aga_otels_own_delta_otlp_exporter_gets_what_the_sdk_gives(make_stack):
    """``temporality_preference="delta"`` on aga-otel's own exporter: the same per-reader
    cursors, so each export has its interval's min/max and no unchanged series."""
    theirs = InMemoryMetricReader(preferred_temporality={Counter: DELTA, Histogram: DELTA})
    ref = MeterProvider(metric_readers=[theirs])
    recorder = MetricsRecorder(ref.get_meter(sc.METER_NAME, __version__), per_event=True)
    events = stream(2000, seed=12)
    with GrpcReceiver() as receiver:
        bus = EventBus()
        cfg = local_config(otlp_endpoint=receiver.endpoint, export_interval=3600,
                           temporality_preference="delta")  # fmt: skip
        stack = make_stack(bus, cfg)
        for phase in (events[:1000], [e for e in events[1000:] if e[1].get("layer_idx") == 2]):
            before = len(receiver.received.requests["metrics"])
            for t, d in phase:
                bus.emit(t, d)
            recorder.handle_batch([Event(t, d) for t, d in phase])
            assert stack.force_flush(10)
            reqs = receiver.received.wait_for("metrics", lambda r, n=before: len(r) > n)
            assert_equal_points(otlp_points(reqs[before:]), points(theirs.get_metrics_data()), 4)
        stack.shutdown()
    ref.shutdown()


# --- histogram_buckets (issue 26): aga-otel's aggregation with the user's bounds ----------
BUCKETS = {"forward_duration": [0.0005, 0.002, 0.008], "gate_value": [0.25, 0.5, 0.75],
           "entropy_value": [1.0, 4.0], "retrieval_score": [0.5]}  # fmt: skip
BUCKET_VIEWS = [View(instrument_name=sc.BY_KEY[k].name,
                     aggregation=ExplicitBucketHistogramAggregation(b))
                for k, b in BUCKETS.items()]  # fmt: skip


def test_configured_buckets_equal_sdk_views_on_the_same_buckets(make_stack):
    """The private pipeline (snapshot, /metrics) with ``histogram_buckets`` gives what the
    SDK gives with Views of the same bounds; an application's provider whose views ask for
    those bounds is fed, not recorded per event."""
    ours, theirs = InMemoryMetricReader(), InMemoryMetricReader()
    cfg = local_config(histogram_buckets=BUCKETS)
    pair = Pair(make_stack, [ours], [theirs], views=BUCKET_VIEWS, config=cfg)
    assert "metrics.app" not in [s.name for s in pair.stack.bridge.sinks]
    pair.emit(stream(2500, seed=13))
    want = points(theirs.get_metrics_data())
    assert {p[6] for p in want.values() if len(p) > 2} == {tuple(b) for b in BUCKETS.values()}
    assert_equal_points(points(ours.get_metrics_data()), want, 10)
    assert_equal_points(points(pair.stack.reader.snapshot()), want, 10)
    with urllib.request.urlopen(f"http://127.0.0.1:{pair.stack.prometheus.port}/metrics") as r:
        families = {f.name: f for f in text_string_to_metric_families(r.read().decode())}
    bucket = sc.prom("forward_duration").removesuffix("_total")
    les = {s.labels["le"] for s in families[bucket].samples if s.name.endswith("_bucket")}
    assert les == {"0.0005", "0.002", "0.008", "+Inf"}
    pair.shutdown()


def test_views_with_other_buckets_than_configured_fall_back_and_say_how_to_fix(make_stack, caplog):
    with caplog.at_level(logging.WARNING, logger="aga_otel"):
        pair = Pair(make_stack, [InMemoryMetricReader()], [InMemoryMetricReader()],
                    views=BUCKET_VIEWS)  # fmt: skip
    assert any("histogram_buckets" in r.getMessage() for r in caplog.records)
    assert "metrics.app" in [s.name for s in pair.stack.bridge.sinks]
    pair.shutdown()
