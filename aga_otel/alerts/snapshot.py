"""Compact cumulative snapshots of the metric stream, and windows between them.

The shared reader hands over cumulative ``MetricsData``. Each evaluation keeps only the
few totals the alert signals need (summed over attributes), stamped with the evaluation
clock; a window of ``W`` seconds is the difference between the newest snapshot and the
newest one at least ``W`` seconds older. This is the delta data of the window, computed
once per evaluation interval and never per event.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from itertools import islice

from opentelemetry.sdk.metrics.export import Gauge, Histogram, MetricsData, Sum

from aga_otel import semconv


@dataclass(frozen=True)
class HistogramTotals:
    """A histogram summed over its attribute sets: ``counts`` has ``len(bounds) + 1`` slots.

    ``min``/``max`` bound the smallest/largest observation counted here, never from inside:
    ``max`` is at least the true maximum and ``min`` at most the true minimum, so a rule on
    an extreme never misses a breaching observation (see ``minus``).
    """

    bounds: tuple[float, ...]
    counts: tuple[int, ...]
    count: int
    sum: float
    min: float = math.inf
    max: float = -math.inf

    def minus(self, older: HistogramTotals | None) -> HistogramTotals:
        """The observations made since ``older`` (all of them after a reset).

        The SDK's cumulative ``min``/``max`` cover the whole lifetime. When the maximum
        grew since ``older`` it is this span's exact maximum; otherwise the span's maximum
        lies in its highest non-empty bucket, so that bucket's upper edge (capped by the
        lifetime maximum) bounds it from above, by at most one bucket width. Likewise for
        the minimum.
        """
        if older is None or older.bounds != self.bounds or older.count > self.count:
            return self
        counts = tuple(a - b for a, b in zip(self.counts, older.counts))
        if min(counts, default=0) < 0:  # a reset between the two snapshots
            return self
        hi = self.max
        if hi <= older.max:
            top = max((i for i, n in enumerate(counts) if n), default=None)
            if top is not None:
                edge = self.bounds[top] if top < len(self.bounds) else math.inf
                hi = min(hi, edge) if math.isfinite(hi) else edge
        lo = self.min
        if lo >= older.min:
            bottom = min((i for i, n in enumerate(counts) if n), default=None)
            if bottom is not None:
                edge = self.bounds[bottom - 1] if bottom else -math.inf
                lo = max(lo, edge) if math.isfinite(lo) else edge
        return HistogramTotals(
            self.bounds, counts, self.count - older.count, self.sum - older.sum, lo, hi
        )


@dataclass(frozen=True)
class Snapshot:
    """The totals of the watched metrics at one evaluation (keys are semconv keys)."""

    timestamp: float
    histograms: dict[str, HistogramTotals] = field(default_factory=dict)
    counters: dict[str, float] = field(default_factory=dict)
    gauges: dict[str, float] = field(default_factory=dict)


def snapshot_from(metrics: MetricsData | None, keys: Iterable[str], timestamp: float) -> Snapshot:
    """Pick the metrics of semconv ``keys`` out of ``metrics``; everything else is ignored.

    A gauge with several attribute sets keeps its largest value (alerts look at the worst).
    ``metrics`` is None when the SDK had nothing at all to collect: an empty snapshot.
    """
    by_name = {semconv.metric(k).name: k for k in keys}
    snap = Snapshot(timestamp)
    for rm in metrics.resource_metrics if metrics is not None else ():
        for sm in rm.scope_metrics:
            for m in sm.metrics:
                key = by_name.get(m.name)
                if key is not None:
                    _add(snap, key, m.data)
    return snap


def _add(snap: Snapshot, key: str, data: object) -> None:
    points = list(getattr(data, "data_points", ()))
    if not points:
        return
    if isinstance(data, Histogram):
        bounds = tuple(points[0].explicit_bounds)
        counts = [0] * (len(bounds) + 1)
        total, acc, lo, hi = 0, 0.0, math.inf, -math.inf
        for p in points:
            if tuple(p.explicit_bounds) != bounds:
                continue  # cannot happen for one instrument; never mix bucket layouts
            counts = [a + b for a, b in zip(counts, p.bucket_counts)]
            total += p.count
            acc += p.sum
            if p.count:
                lo, hi = min(lo, _finite_or(p.min, lo)), max(hi, _finite_or(p.max, hi))
        snap.histograms[key] = HistogramTotals(bounds, tuple(counts), total, acc, lo, hi)
    elif isinstance(data, Sum):
        snap.counters[key] = float(sum(p.value for p in points))
    elif isinstance(data, Gauge):
        snap.gauges[key] = float(max(p.value for p in points))


def _finite_or(value: object, default: float) -> float:
    # min/max are optional on a data point (record_min_max=False leaves them unset).
    return value if isinstance(value, (int, float)) and math.isfinite(value) else default


@dataclass(frozen=True)
class WindowView:
    """What one rule window sees: the newest snapshot, its baseline, and the samples within."""

    current: Snapshot
    baseline: Snapshot
    recent: tuple[Snapshot, ...]  # snapshots inside the window, oldest first

    @property
    def seconds(self) -> float:
        return self.current.timestamp - self.baseline.timestamp

    def histogram(self, key: str) -> HistogramTotals | None:
        new = self.current.histograms.get(key)
        return None if new is None else new.minus(self.baseline.histograms.get(key))

    def counter(self, key: str) -> float | None:
        new = self.current.counters.get(key)
        if new is None:
            return None
        old = self.baseline.counters.get(key, 0.0)
        return new if old > new else new - old  # a decrease means the counter restarted

    def gauge_samples(self, key: str) -> list[float]:
        return [s.gauges[key] for s in self.recent if key in s.gauges]


class SnapshotHistory:
    """The snapshots of the last ``horizon`` seconds (plus one older, as a baseline).

    It starts with an empty snapshot at ``start`` so the first evaluation sees everything
    recorded since the pipeline started (the reader is created together with the manager).

    Evaluations on read (aga_observability's ``get_alerts()``) can come far faster than the
    evaluation interval. With ``min_spacing``, older snapshots are thinned so that any two
    but one apart lie at least ``min_spacing`` apart: the history stays bounded (about
    ``2 * horizon / min_spacing``), and the newest two, the last interval, are never touched.
    """

    def __init__(self, horizon: float, start: float, min_spacing: float = 0.0) -> None:
        self.horizon = horizon
        self.min_spacing = min_spacing
        self._snaps: deque[Snapshot] = deque([Snapshot(start)])
        self._times: deque[float] = deque([start])  # their timestamps, for bisection

    def add(self, snap: Snapshot) -> None:
        self._snaps.append(snap)
        self._times.append(snap.timestamp)
        t = self._times
        if len(t) >= 4 and t[-2] - t[-4] < self.min_spacing:
            del self._snaps[-3], self._times[-3]  # windows lose a sample, never an event
        cutoff = snap.timestamp - self.horizon
        # Keep the newest snapshot at or before the cutoff: it is the baseline of the
        # longest window.
        while len(self._snaps) > 2 and self._times[1] <= cutoff:
            self._snaps.popleft()
            self._times.popleft()

    def window(self, seconds: float) -> WindowView:
        """The view of the last ``seconds``; shorter if history does not reach that far."""
        current = self._snaps[-1]
        cutoff = current.timestamp - seconds
        # Timestamps come from the evaluation clock, in order: the first one past the
        # cutoff starts the window, and the one before it is the baseline.
        i = bisect_right(self._times, cutoff)
        baseline = self._snaps[i - 1] if i else self._snaps[0]
        return WindowView(current, baseline, tuple(islice(self._snaps, i, None)))

    def last_interval(self) -> WindowView:
        """The view of the last evaluation interval: the newest snapshot and the one before."""
        current = self._snaps[-1]
        baseline = self._snaps[-2] if len(self._snaps) > 1 else current
        return WindowView(current, baseline, (current,))

    def __len__(self) -> int:
        return len(self._snaps)
