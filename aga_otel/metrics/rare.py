"""Retrieval and audit counts aggregated in plain Python, produced as OTel data at collection.

Retrieval and audit events are rare next to forward events, but each one cost up to five SDK
calls (three counter ``add`` calls per layer, one ``record`` per score, one ``add`` per audit
operation), each with an attribute lookup and a lock: tens of µs of GIL-holding CPU apiece
inside a generating model, where the caches are cold. Like the forward events
(:mod:`aga_otel.metrics.forward`), they are folded here into cumulative per-attribute-set
sums and one explicit-bucket histogram, and :meth:`CountAggregator.produce` hands the shared
reader the ``Metric`` objects the SDK would have produced (``tests/test_metrics_equality.py``
compares both), and :mod:`aga_otel.metrics.feed` hands the same data to an application's
readers, as deltas where they ask for them (:meth:`CountAggregator.open_cursor`).
"""

from __future__ import annotations

import threading
import time
from bisect import bisect_left
from collections import Counter

from opentelemetry.sdk.metrics.export import (
    AggregationTemporality,
    Histogram,
    HistogramDataPoint,
    Metric,
    NumberDataPoint,
    Sum,
)

from aga_otel import semconv as sc
from aga_otel.metrics.histogram import Cursor, Hist, delta_counts, open_cursor

_CUMULATIVE = AggregationTemporality.CUMULATIVE
_DELTA = AggregationTemporality.DELTA
_COUNTERS = ("retrieval", "retrieval_results", "retrieval_injected", "audit_operations")
_SCORE = sc.BY_KEY["retrieval_score"]
_SCORE_BOUNDS = tuple(_SCORE.buckets or ())


class _Series:
    """One cumulative value of one attribute set, with the time it started and how many
    ``add`` calls it took (a delta reader gets a point for an interval with an ``add`` of
    0, as from the SDK's counter)."""

    __slots__ = ("attrs", "start_ns", "value", "adds")

    def __init__(self, attrs: dict[str, str], start_ns: int) -> None:
        self.attrs = attrs
        self.start_ns = start_ns
        self.value = 0
        self.adds = 0


class CountAggregator:
    """Cumulative retrieval/audit counters and the retrieval-score histogram (worker thread)."""

    def __init__(self, score_bounds=None) -> None:
        """``score_bounds``: the retrieval-score histogram's bounds (default: semconv's)."""
        self.score_bounds = _SCORE_BOUNDS if score_bounds is None else tuple(
            float(b) for b in score_bounds)  # fmt: skip
        self._lock = threading.Lock()
        self._sums: dict[str, dict[tuple, _Series]] = {key: {} for key in _COUNTERS}
        self._score = Hist(len(self.score_bounds))
        self._score_start = 0  # 0: no score recorded yet
        self._cursors: list[Cursor] = []  # one per delta reader (metrics/feed.py)

    def add(
        self,
        retrieval: dict[int, list[int]],
        attrs_of,
        audit: Counter,
        scores: list[float],
    ) -> None:
        """One batch: ``{layer: [calls, results, injected]}`` (``attrs_of(layer)`` gives
        the layer's attributes), ``{(operation, success): n}`` and the valid scores."""
        now = time.time_ns()
        with self._lock:
            for layer, (calls, results, injected) in retrieval.items():
                attrs = attrs_of(layer)
                for key, n in (("retrieval", calls), ("retrieval_results", results),
                               ("retrieval_injected", injected)):  # fmt: skip
                    series = self._series(key, attrs, now)
                    series.value += n
                    series.adds += 1
            for (operation, success), n in audit.items():
                attrs = {sc.ATTR_OPERATION: operation,
                         sc.ATTR_SUCCESS: "true" if success else "false"}  # fmt: skip
                series = self._series("audit_operations", attrs, now)
                series.value += n
                series.adds += 1
            if scores:
                if not self._score_start:
                    self._score_start = now
                h, bounds = self._score, self.score_bounds
                counts = h.counts
                for score in scores:  # in order: the SDK's sum, to the last bit
                    counts[bisect_left(bounds, score)] += 1
                    h.total += score
                    if score < h.low:
                        h.low = score
                    if score > h.high:
                        h.high = score

    def _series(self, key: str, attrs: dict[str, str], now: int) -> _Series:
        by_attrs = self._sums[key]
        ident = tuple(sorted(attrs.items()))
        series = by_attrs.get(ident)
        if series is None:
            series = by_attrs[ident] = _Series(dict(attrs), now)
        return series

    def produce(
        self, exemplars_since_ns: int | None = 0, cursor: Cursor | None = None
    ) -> list[Metric]:
        """The metrics that have data, as OTel ``Metric`` objects (no exemplars: aga-otel
        records none for these). Cumulative; with a ``cursor`` (:meth:`open_cursor`), delta
        since that cursor's previous call, as :meth:`ForwardAggregator.produce` gives them."""
        now = time.time_ns()
        metrics: list[Metric] = []
        temporality = _CUMULATIVE if cursor is None else _DELTA
        with self._lock:
            if cursor is not None:
                self._score.cut(_SCORE.key, self._cursors)
            for key in _COUNTERS:
                points = [p for s in self._sums[key].values() if (p := _point(key, s, now, cursor))]
                if points:
                    spec = sc.BY_KEY[key]
                    metrics.append(Metric(spec.name, spec.description, spec.unit,
                                          Sum(points, temporality, True)))  # fmt: skip
            point = self._score_point(now, cursor) if self._score_start else None
            if point is not None:
                metrics.append(Metric(_SCORE.name, _SCORE.description, _SCORE.unit,
                                      Histogram([point], temporality)))  # fmt: skip
            if cursor is not None:
                cursor.finish(now)
        return metrics

    def _score_point(self, now: int, cursor: Cursor | None) -> HistogramDataPoint | None:
        h = self._score
        count = sum(h.counts)
        if cursor is None:
            return HistogramDataPoint({}, self._score_start, now, count, h.total, list(h.counts),
                                      self.score_bounds, h.minimum(), h.maximum(), [])  # fmt: skip
        counts0, total0 = cursor.prev.get(_SCORE.key) or (None, 0.0)
        cursor.prev[_SCORE.key] = (tuple(h.counts), h.total)
        counts = delta_counts(h.counts, counts0)
        if not sum(counts):
            return None
        low, high = cursor.interval_extremes(_SCORE.key)
        start = cursor.collected_ns or self._score_start
        return HistogramDataPoint({}, start, now, sum(counts), h.total - total0, counts,
                                  self.score_bounds, low, high, [])  # fmt: skip

    def open_cursor(self) -> Cursor:
        """A delta reader's cursor: its first :meth:`produce` covers everything so far."""
        with self._lock:
            return open_cursor(self._cursors, [(_SCORE.key, self._score)])


def _point(key: str, s: _Series, now: int, cursor: Cursor | None) -> NumberDataPoint | None:
    """One series' cumulative point, or its delta since ``cursor``'s previous call (None
    when it had no ``add`` since)."""
    if cursor is None:
        return NumberDataPoint(dict(s.attrs), s.start_ns, now, s.value)
    ident = (key, id(s))
    value0, adds0 = cursor.prev.get(ident) or (0, 0)
    cursor.prev[ident] = (s.value, s.adds)
    if s.adds == adds0:
        return None
    return NumberDataPoint(dict(s.attrs), cursor.collected_ns or s.start_ns, now, s.value - value0)
