"""aga-otel's aggregations fed to any SDK ``MeterProvider``'s readers (the spec's MetricProducer).

aga-otel aggregates forward, retrieval and audit events itself (:mod:`.forward`,
:mod:`.rare`): recording each event again through an SDK instrument costs ~20 µs of
GIL-holding CPU per forward event. The OpenTelemetry metrics SDK specification has the
answer — a *MetricProducer* whose pre-aggregated data a ``MetricReader`` merges into each
collection — but Python SDK 1.45 has none yet (an upstream pull request adds one). Until it
ships, :class:`ProducerFeed` is that producer, fitted onto the pinned SDK: the one module
of aga-otel that reads the metrics SDK's internals, listed in :data:`SDK_INTERNALS`.

For every reader of the provider, at each of its collections, the feed produces our points
as the SDK would have produced them from per-event recording:
- through the application's **views**, resolved by the SDK's own view matching on the real
  (never recorded) instruments aga-otel creates on the provider: renames, descriptions,
  attribute-key filters (points merged), dropped instruments, histograms as sums, explicit
  buckets equal to aga-otel's and ``record_min_max``;
- in the reader's **temporality** per instrument kind: a delta reader has its own cursor in
  each aggregation (:mod:`.histogram`), so no reader takes another's delta, and gets each
  interval's own min/max and no point for a series without new events;
- with the **exemplars** of the reader's own interval (none under an always-off filter);
- summed over every stack attached to the provider, including stacks that were shut down
  (a re-instrumented provider's counters keep counting, as SDK instruments would).

What it cannot reproduce (another bucket layout, exponential histograms, last-value
aggregations, a custom exemplar reservoir) raises :class:`FeedUnsupported` at attach time,
and the caller falls back to per-event recording with one warning. So does an SDK of
another minor version (``tests/test_metrics_feed.py`` fails loudly when the internals used
here move).

Mapping onto the upstream interface once released: :meth:`ProducerFeed.produce_for` is a
``MetricProducer.produce()``; the per-reader state (cursors, resolved streams) moves into a
producer instance per reader, registered through the reader's ``metric_producers=``; the
collect-callback wrapping in :meth:`ProducerFeed.attach` goes away.
"""

from __future__ import annotations

import logging
import threading
import time
from bisect import bisect_left
from collections.abc import Sequence
from dataclasses import dataclass

from opentelemetry.sdk import version as sdk_version
from opentelemetry.sdk.metrics import AlwaysOffExemplarFilter, MeterProvider
from opentelemetry.sdk.metrics._internal.aggregation import (
    _DropAggregation,
    _ExplicitBucketHistogramAggregation,
    _SumAggregation,
)
from opentelemetry.sdk.metrics._internal.instrument import _Counter, _Histogram
from opentelemetry.sdk.metrics._internal.metric_reader_storage import MetricReaderStorage
from opentelemetry.sdk.metrics._internal.view import _default_reservoir_factory
from opentelemetry.sdk.metrics.export import (
    AggregationTemporality,
    Histogram,
    HistogramDataPoint,
    Metric,
    MetricReader,
    MetricsData,
    NumberDataPoint,
    Sum,
)
from opentelemetry.sdk.util.instrumentation import InstrumentationScope

from aga_otel import semconv as sc
from aga_otel.metrics.reader import merge_metrics

logger = logging.getLogger(__name__)

SDK_SERIES = "1.45."  # the SDK minor version this module is written against
# What this module reads of the SDK (tests/test_metrics_feed.py checks each one exists).
SDK_INTERNALS = (
    "MeterProvider._sdk_config (.views, .resource, .exemplar_filter)",
    "MeterProvider._metric_readers",
    "MetricReader._collect (the collect callback the provider installs)",
    "MetricReader._instrument_class_temporality / _aggregation / _cardinality_limit",
    "MetricReaderStorage._get_or_init_view_instrument_match",
    "_ViewInstrumentMatch._name / _description / _aggregation / _view",
    "View._attribute_keys / _exemplar_reservoir_factory",
    "_ExplicitBucketHistogramAggregation._boundaries / _record_min_max",
    "Meter._is_enabled",
)
_DELTA = AggregationTemporality.DELTA


class FeedUnsupported(Exception):
    """The provider (or this SDK) needs what pre-aggregated data cannot give."""


@dataclass(frozen=True)
class _Stream:
    """One output stream of one of our instruments, as the reader's views make it."""

    name: str
    description: str
    unit: str
    kind: str  # "sum" (a counter), "histogram", "value_sum" (a histogram viewed as a sum)
    keys: frozenset[str] | None  # attribute keys kept (None: all)
    min_max: bool = True


class _ReaderFeed:
    """One reader's streams, temporalities, cursors and exemplar interval."""

    def __init__(self, reader: MetricReader, streams: dict[str, list[_Stream]]) -> None:
        self.reader = reader
        self.streams = streams
        temporality = reader._instrument_class_temporality
        self.delta = {"sum": temporality[_Counter] is _DELTA,
                      "histogram": temporality[_Histogram] is _DELTA}  # fmt: skip
        self.cursors: dict[int, object] = {}  # id(producer) → its cursor (delta readers)
        self.exemplars_since = 0  # the time of this reader's previous collection


class ProducerFeed:
    """Every aga-otel aggregation attached to one MeterProvider, fed to each of its readers."""

    def __init__(
        self,
        provider: MeterProvider,
        meter,
        instruments: dict[str, object],
        readers: Sequence[MetricReader] | None = None,
        bounds: dict[str, tuple] | None = None,
    ) -> None:
        """``instruments``: ours, created on ``meter`` (a meter of ``provider``) and never
        recorded, by name; ``readers``: the provider's readers to feed (default: all);
        ``bounds``: the aggregations' histogram bounds by instrument name (default:
        semconv's)."""
        check_sdk(provider)
        self.bounds = bounds or {s.name: tuple(s.buckets) for s in sc.METRICS if s.buckets}
        self._provider = provider
        self._meter = meter
        self._scope = InstrumentationScope(meter.name, meter.version, meter.schema_url)
        self._producers: list = []  # current and retired stacks' aggregations
        self._lock = threading.Lock()
        self._readers = [
            _ReaderFeed(
                r,
                {
                    name: resolve_streams(provider, r, inst, self.bounds.get(name))
                    for name, inst in instruments.items()
                },
            )  # fmt: skip
            for r in (provider._metric_readers if readers is None else readers)
        ]
        no_exemplars = isinstance(provider._sdk_config.exemplar_filter, AlwaysOffExemplarFilter)
        self._exemplars = not no_exemplars
        self._failed = False
        for rf in self._readers:
            self._wrap(rf)

    def attach(self, producers: Sequence) -> None:
        """Add one stack's aggregations; they stay after the stack stops (their totals)."""
        with self._lock:
            for producer in producers:
                if any(p is producer for p in self._producers):
                    continue
                self._producers.append(producer)
                for rf in self._readers:
                    if any(rf.delta.values()):
                        rf.cursors[id(producer)] = producer.open_cursor()

    def _wrap(self, rf: _ReaderFeed) -> None:
        original = rf.reader._collect
        if original is None:
            raise FeedUnsupported(f"reader {rf.reader!r} has no collect callback")
        resource = self._provider._sdk_config.resource

        def collect(reader: MetricReader, timeout_millis: float = 10_000) -> MetricsData | None:
            data = original(reader, timeout_millis=timeout_millis)
            try:
                metrics = self.produce_for(rf)
            except Exception:  # our data is lost for this collection, never the SDK's
                if not self._failed:
                    self._failed = True
                    logger.exception("aga-otel: producing AGA metrics for %r failed", reader)
                return data
            if not metrics:
                return data
            return merge_metrics(data, resource, self._scope, metrics)

        rf.reader._collect = collect

    def produce_for(self, rf: _ReaderFeed) -> list[Metric]:
        """Our metrics for one collection of ``rf``'s reader, through its views."""
        if not self._meter._is_enabled():  # the application disabled aga-otel's meter
            return []
        now = time.time_ns()
        since = rf.exemplars_since if self._exemplars else None
        by_name: dict[str, list[Metric]] = {}
        with self._lock:
            for producer in self._producers:
                cursor = rf.cursors.get(id(producer))
                for delta in {rf.delta["sum"], rf.delta["histogram"]}:
                    for m in producer.produce(since, cursor if delta else None):
                        kind = "sum" if isinstance(m.data, Sum) else "histogram"
                        if rf.delta[kind] is delta:
                            by_name.setdefault(m.name, []).append(m)
        rf.exemplars_since = now
        out: list[Metric] = []
        for name, metrics in by_name.items():
            for stream in rf.streams.get(name, ()):
                metric = _apply(stream, metrics)
                if metric is not None:
                    out.append(metric)
        return out


def check_sdk(provider: object) -> None:
    """Raise :class:`FeedUnsupported` unless ``provider`` is a 1.45 SDK provider with the
    internals this module reads."""
    if not sdk_version.__version__.startswith(SDK_SERIES):
        raise FeedUnsupported(
            f"opentelemetry-sdk {sdk_version.__version__} (aga-otel's feed is written for "
            f"{SDK_SERIES}x)"
        )
    if not isinstance(provider, MeterProvider):
        raise FeedUnsupported(f"{type(provider).__name__} is not the SDK's MeterProvider")
    config = getattr(provider, "_sdk_config", None)
    readers = getattr(provider, "_metric_readers", None)
    if config is None or readers is None or not hasattr(config, "views"):
        raise FeedUnsupported("the SDK's MeterProvider internals moved")
    for reader in readers:
        for attr in ("_collect", "_instrument_class_temporality", "_instrument_class_aggregation"):
            if not hasattr(reader, attr):
                raise FeedUnsupported(f"MetricReader.{attr} is gone")


def resolve_streams(
    provider: MeterProvider, reader: MetricReader, instrument, bounds: tuple | None = None
) -> list[_Stream]:
    """The streams ``reader`` would get from ``instrument``: the SDK's own view matching,
    run on a storage of our own (the reader's storage never sees these instruments)."""
    storage = MetricReaderStorage(
        provider._sdk_config,
        reader._instrument_class_temporality,
        reader._instrument_class_aggregation,
        getattr(reader, "_instrument_class_cardinality_limit", None),
    )
    spec = sc.BY_NAME[instrument.name]
    ours = tuple(spec.buckets or ()) if bounds is None else tuple(bounds)
    out = []
    for match in storage._get_or_init_view_instrument_match(instrument):
        agg, view = match._aggregation, match._view
        where = f"{instrument.name} (view {view._name or view._instrument_name!r})"
        if isinstance(agg, _DropAggregation):
            continue
        if view._exemplar_reservoir_factory is not _default_reservoir_factory:
            raise FeedUnsupported(f"{where}: a custom exemplar reservoir")
        keys = view._attribute_keys
        keys = None if keys is None else frozenset(keys)
        counter = isinstance(instrument, _Counter)
        if isinstance(agg, _SumAggregation):
            kind = "sum" if counter else "value_sum"
            out.append(_Stream(match._name, match._description, instrument.unit, kind, keys))
        elif isinstance(agg, _ExplicitBucketHistogramAggregation) and not counter:
            if tuple(agg._boundaries) != ours:
                raise FeedUnsupported(
                    f"{where}: buckets {list(agg._boundaries)} differ from aga-otel's "
                    f"{list(ours)} (set them with histogram_buckets)"
                )
            out.append(_Stream(match._name, match._description, instrument.unit, "histogram",
                               keys, bool(agg._record_min_max)))  # fmt: skip
        else:
            raise FeedUnsupported(f"{where}: aggregation {type(agg).__name__.lstrip('_')}")
    return out


def _apply(stream: _Stream, metrics: list[Metric]) -> Metric | None:
    """``metrics`` (one instrument's, from every producer) as ``stream``'s one Metric."""
    first = metrics[0].data
    temporality = first.aggregation_temporality
    points = [p for m in metrics for p in m.data.data_points]
    if stream.keys is not None or len(metrics) > 1:
        points = _merge_points(points, stream.keys)
    if stream.kind == "sum":
        data = Sum(points, temporality, True)
    elif stream.kind == "value_sum":
        data = Sum([NumberDataPoint(p.attributes, p.start_time_unix_nano, p.time_unix_nano,
                                    p.sum) for p in points], temporality, False)  # fmt: skip
    else:
        if not stream.min_max:
            points = [_without_min_max(p) for p in points]
        data = Histogram(points, temporality)
    return Metric(stream.name, stream.description, stream.unit, data) if points else None


def _merge_points(points: list, keys: frozenset[str] | None) -> list:
    """Points with equal (filtered) attributes added together, as one SDK stream adds them."""
    merged: dict[frozenset, object] = {}
    for p in points:
        attrs = p.attributes if keys is None else {
            k: v for k, v in p.attributes.items() if k in keys}  # fmt: skip
        ident = frozenset(attrs.items())
        q = merged.get(ident)
        if q is None:
            merged[ident] = _with_attributes(p, dict(attrs))
        else:
            merged[ident] = _add(q, p)
    return list(merged.values())


def _with_attributes(p, attrs: dict):
    if isinstance(p, NumberDataPoint):
        return NumberDataPoint(attrs, p.start_time_unix_nano, p.time_unix_nano, p.value)
    return HistogramDataPoint(attrs, p.start_time_unix_nano, p.time_unix_nano, p.count, p.sum,
                              list(p.bucket_counts), p.explicit_bounds, p.min, p.max,
                              list(p.exemplars))  # fmt: skip


def _add(q, p):
    start = min(q.start_time_unix_nano, p.start_time_unix_nano)
    end = max(q.time_unix_nano, p.time_unix_nano)
    if isinstance(q, NumberDataPoint):
        return NumberDataPoint(q.attributes, start, end, q.value + p.value)
    counts = [a + b for a, b in zip(q.bucket_counts, p.bucket_counts)]
    exemplars = _one_per_bucket([*q.exemplars, *p.exemplars], q.explicit_bounds)
    return HistogramDataPoint(q.attributes, start, end, q.count + p.count, q.sum + p.sum, counts,
                              q.explicit_bounds, min(q.min, p.min), max(q.max, p.max),
                              exemplars)  # fmt: skip


def _one_per_bucket(exemplars: list, bounds: Sequence[float]) -> list:
    """The latest exemplar of each bucket (the SDK's aligned reservoir keeps one per bucket)."""
    latest: dict[int, object] = {}
    for e in exemplars:
        i = bisect_left(bounds, e.value)
        if i not in latest or e.time_unix_nano >= latest[i].time_unix_nano:
            latest[i] = e
    return [latest[i] for i in sorted(latest)]


def _without_min_max(p: HistogramDataPoint) -> HistogramDataPoint:
    return HistogramDataPoint(p.attributes, p.start_time_unix_nano, p.time_unix_nano, p.count,
                              p.sum, p.bucket_counts, p.explicit_bounds, float("inf"),
                              float("-inf"), p.exemplars)  # fmt: skip
