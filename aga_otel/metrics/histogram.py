"""Explicit-bucket histogram state and delta cursors, shared by aga-otel's aggregations.

:class:`Hist` is what the SDK's explicit-bucket aggregation keeps for one attribute set
(bucket counts, sum, min, max), in plain Python so a batch can be folded in without an SDK
call per value. The aggregations' per-event loops update its fields directly.

A *delta* reader (an application reader preferring delta temporality) must get each
interval's own min and max, which cumulative state cannot give back. So ``low``/``high``
hold the extremes since the last *cut*, ``base_low``/``base_high`` those before it, and a
cut — made only when a delta reader collects, never while none is attached — folds the
interval's extremes into every open :class:`Cursor` first. A process without delta readers
never cuts: ``low``/``high`` are then the all-time extremes, as before.
"""

from __future__ import annotations

from collections.abc import Iterable

INF = float("inf")


class Hist:
    """One cumulative explicit-bucket histogram (the SDK's aggregation, in plain Python)."""

    __slots__ = ("counts", "total", "low", "high", "base_low", "base_high")

    def __init__(self, n_bounds: int) -> None:
        self.counts = [0] * (n_bounds + 1)
        self.total = 0.0
        self.low = self.base_low = INF  # low/high: since the last cut
        self.high = self.base_high = -INF

    def minimum(self) -> float:
        """The smallest value ever aggregated (inf before any)."""
        return self.low if self.low < self.base_low else self.base_low

    def maximum(self) -> float:
        return self.high if self.high > self.base_high else self.base_high

    def cut(self, key: object, cursors: Iterable[Cursor]) -> None:
        """Close the current interval: every cursor's extremes for ``key`` take it in."""
        low, high = self.low, self.high
        if low > high:  # nothing aggregated since the last cut
            return
        for cursor in cursors:
            cursor.take_extremes(key, low, high)
        if low < self.base_low:
            self.base_low = low
        if high > self.base_high:
            self.base_high = high
        self.low, self.high = INF, -INF


class Cursor:
    """A delta reader's position in one aggregation.

    ``prev``: what the reader was last given, per series (the aggregation's own format);
    ``extremes``: per histogram key, ``[min, max]`` of the values since then;
    ``collected_ns``: the time of its previous collection (0 before the first), which
    starts its next delta points, as the SDK's delta aggregation does.
    """

    __slots__ = ("prev", "extremes", "collected_ns")

    def __init__(self) -> None:
        self.prev: dict = {}
        self.extremes: dict[object, list[float]] = {}
        self.collected_ns = 0

    def take_extremes(self, key: object, low: float, high: float) -> None:
        e = self.extremes.get(key)
        if e is None:
            self.extremes[key] = [low, high]
            return
        if low < e[0]:
            e[0] = low
        if high > e[1]:
            e[1] = high

    def interval_extremes(self, key: object) -> tuple[float, float]:
        e = self.extremes.get(key)
        return (INF, -INF) if e is None else (e[0], e[1])

    def finish(self, now_ns: int) -> None:
        """The reader got this collection: its next interval starts now."""
        self.extremes.clear()
        self.collected_ns = now_ns


def open_cursor(cursors: list[Cursor], hists: Iterable[tuple[object, Hist]]) -> Cursor:
    """A new cursor that sees everything aggregated so far as its first interval (the SDK's
    first delta point covers the stream from its start). Call under the aggregation's lock."""
    hists = list(hists)
    for key, h in hists:
        h.cut(key, cursors)
    cursor = Cursor()
    for key, h in hists:
        if h.base_low <= h.base_high:
            cursor.take_extremes(key, h.base_low, h.base_high)
    cursors.append(cursor)
    return cursor


def delta_counts(now: list[int] | tuple, before: tuple | None) -> list[int]:
    return list(now) if before is None else [a - b for a, b in zip(now, before)]
