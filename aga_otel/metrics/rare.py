"""Retrieval and audit counts aggregated in plain Python, produced as OTel data at collection.

Retrieval and audit events are rare next to forward events, but each one cost up to five SDK
calls (three counter ``add`` calls per layer, one ``record`` per score, one ``add`` per audit
operation), each with an attribute lookup and a lock: tens of µs of GIL-holding CPU apiece
inside a generating model, where the caches are cold. Like the forward events
(:mod:`aga_otel.metrics.forward`), they are folded here into cumulative per-attribute-set
sums and one explicit-bucket histogram, and :meth:`CountAggregator.produce` hands the shared
reader the ``Metric`` objects the SDK would have produced (``tests/test_metrics_equality.py``
compares both). The application-provider mode keeps the SDK's instruments: there the
application's pipeline owns the aggregation.
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

_CUMULATIVE = AggregationTemporality.CUMULATIVE
_COUNTERS = ("retrieval", "retrieval_results", "retrieval_injected", "audit_operations")
_SCORE = sc.BY_KEY["retrieval_score"]
_SCORE_BOUNDS = tuple(_SCORE.buckets or ())


class _Series:
    """One cumulative value of one attribute set, with the time it started."""

    __slots__ = ("attrs", "start_ns", "value")

    def __init__(self, attrs: dict[str, str], start_ns: int) -> None:
        self.attrs = attrs
        self.start_ns = start_ns
        self.value = 0


class CountAggregator:
    """Cumulative retrieval/audit counters and the retrieval-score histogram (worker thread)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._sums: dict[str, dict[tuple, _Series]] = {key: {} for key in _COUNTERS}
        self._score_counts = [0] * (len(_SCORE_BOUNDS) + 1)
        self._score_sum = 0.0
        self._score_low, self._score_high = float("inf"), float("-inf")
        self._score_start = 0  # 0: no score recorded yet

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
                    self._series(key, attrs, now).value += n
            for (operation, success), n in audit.items():
                attrs = {sc.ATTR_OPERATION: operation,
                         sc.ATTR_SUCCESS: "true" if success else "false"}  # fmt: skip
                self._series("audit_operations", attrs, now).value += n
            if scores:
                if not self._score_start:
                    self._score_start = now
                counts = self._score_counts
                for score in scores:  # in order: the SDK's sum, to the last bit
                    counts[bisect_left(_SCORE_BOUNDS, score)] += 1
                    self._score_sum += score
                    if score < self._score_low:
                        self._score_low = score
                    if score > self._score_high:
                        self._score_high = score

    def _series(self, key: str, attrs: dict[str, str], now: int) -> _Series:
        by_attrs = self._sums[key]
        ident = tuple(sorted(attrs.items()))
        series = by_attrs.get(ident)
        if series is None:
            series = by_attrs[ident] = _Series(dict(attrs), now)
        return series

    def produce(self, exemplars_since_ns: int | None = 0) -> list[Metric]:
        """The cumulative metrics that have data, as OTel ``Metric`` objects (no exemplars:
        aga-otel's provider records none for these)."""
        now = time.time_ns()
        metrics: list[Metric] = []
        with self._lock:
            for key in _COUNTERS:
                series = self._sums[key]
                if not series:
                    continue
                spec = sc.BY_KEY[key]
                points = [
                    NumberDataPoint(dict(s.attrs), s.start_ns, now, s.value)
                    for s in series.values()
                ]
                metrics.append(Metric(spec.name, spec.description, spec.unit,
                                      Sum(points, _CUMULATIVE, True)))  # fmt: skip
            if self._score_start:
                point = HistogramDataPoint(
                    {}, self._score_start, now, sum(self._score_counts), self._score_sum,
                    list(self._score_counts), _SCORE_BOUNDS, self._score_low,
                    self._score_high, [],
                )  # fmt: skip
                metrics.append(Metric(_SCORE.name, _SCORE.description, _SCORE.unit,
                                      Histogram([point], _CUMULATIVE)))  # fmt: skip
        return metrics
