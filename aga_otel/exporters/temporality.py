"""Delta temporality for exporters that prefer it.

The shared reader is cumulative (Prometheus needs it and one reader serves everyone); an
OTLP backend that wants delta (``temporality_preference="delta"``, or the
``OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE`` variable) gets, per exporter, a
:class:`DeltaState`: the event metrics come as deltas from the aggregations themselves
(a cursor per producer, so each interval has its own min/max and unchanged series are left
out, as from the SDK), and the SDK's own instruments as the difference between consecutive
snapshots (:class:`DeltaConverter`). ``lowmemory`` is treated like ``delta`` for monotonic
sums and histograms; gauges and non-monotonic sums stay as they are, as the spec asks.
"""

from __future__ import annotations

from dataclasses import replace

from opentelemetry.sdk.metrics.export import (
    AggregationTemporality,
    Histogram,
    HistogramDataPoint,
    Metric,
    MetricsData,
    NumberDataPoint,
    ResourceMetrics,
    ScopeMetrics,
    Sum,
)


class DeltaState:
    """One delta exporter's position: a cursor per producer, a converter for the rest."""

    def __init__(self) -> None:
        self.converter = DeltaConverter()
        self._cursors: dict[int, tuple[object, object]] = {}  # id(producer) → (it, cursor)

    def cursor_for(self, producer):
        """This exporter's cursor in ``producer`` (its first delta covers everything)."""
        entry = self._cursors.get(id(producer))
        if entry is None or entry[0] is not producer:
            entry = self._cursors[id(producer)] = (producer, producer.open_cursor())
        return entry[1]


class DeltaConverter:
    """Keeps the previous cumulative point per series and emits differences."""

    def __init__(self) -> None:
        self._prev: dict[tuple, object] = {}

    def convert(self, data: MetricsData) -> MetricsData:
        return MetricsData(resource_metrics=[
            ResourceMetrics(rm.resource, [
                ScopeMetrics(sm.scope, [self.convert_metric(m) for m in sm.metrics], sm.schema_url)
                for sm in rm.scope_metrics
            ], rm.schema_url)
            for rm in data.resource_metrics
        ])  # fmt: skip

    def convert_metric(self, m: Metric) -> Metric:
        """One metric's monotonic sums and histograms as deltas since the previous call."""
        d = m.data
        if isinstance(d, Sum) and d.is_monotonic:
            points = [self._sum_point(m.name, p) for p in d.data_points]
            data = Sum(points, AggregationTemporality.DELTA, True)
        elif isinstance(d, Histogram):
            points = [self._hist_point(m.name, p) for p in d.data_points]
            data = Histogram(points, AggregationTemporality.DELTA)
        else:
            return m
        return Metric(m.name, m.description, m.unit, data)

    def _swap(self, name: str, point):
        """Store ``point`` as the series' latest and return the one it replaces."""
        key = (name, frozenset(point.attributes.items()))
        prev = self._prev.get(key)
        self._prev[key] = point
        return prev

    def _sum_point(self, name: str, p: NumberDataPoint) -> NumberDataPoint:
        prev = self._swap(name, p)
        if prev is None:
            return p
        return replace(p, start_time_unix_nano=prev.time_unix_nano, value=p.value - prev.value)

    def _hist_point(self, name: str, p: HistogramDataPoint) -> HistogramDataPoint:
        prev = self._swap(name, p)
        if prev is None:
            return p
        # An interval's min/max cannot be recovered from cumulative data: the cumulative
        # ones are kept (they bound the interval's values).
        return replace(
            p,
            start_time_unix_nano=prev.time_unix_nano,
            count=p.count - prev.count,
            sum=p.sum - prev.sum,
            bucket_counts=[a - b for a, b in zip(p.bucket_counts, prev.bucket_counts)],
        )
