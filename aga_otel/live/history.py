"""The page's time series, kept while nobody watches, so a first view shows the last minutes.

``History`` holds the last ``seconds`` of points (at most ``size``), each encoded once, so
its memory is bounded (about 0.5 KB a point at 32 layers) and a page's first message is a
join. Two writers fill it, never at once:

- while a page is connected, the dashboard's loop adds the point of every update (1 s);
- while nobody watches, :class:`HistorySampler` adds one every ``every`` seconds (5 s, half
  the rate window, so little is lost to the 10 s rates). It is an ``EventSink`` on the
  bridge's worker thread: it runs only when a batch of events arrives, so an idle process
  does nothing for it, and no thread or timer is added. A sample reads the producers' part
  of a snapshot only (forward and retrieval aggregations: what the points show), without
  the SDK collection and observable callbacks of a full snapshot, and never on the
  emitting thread.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence

from opentelemetry.sdk.metrics.export import MetricsData

from aga_otel.live.totals import Totals, read_totals
from aga_otel.live.view import encode, history_point, window_view

logger = logging.getLogger(__name__)

HISTORY_SECONDS = 300.0  # what the page's charts span
SAMPLE_EVERY = 5.0


class RateWindow:
    """The totals of the last ``window`` seconds, for rates between two of them."""

    def __init__(self, window: float = 10.0) -> None:
        self.window = window
        self._kept: deque[Totals] = deque()

    def baseline(self, totals: Totals) -> Totals | None:
        """Keep ``totals``; the newest kept totals at least ``window`` seconds older."""
        kept = self._kept
        if totals.time is None:
            return kept[-1] if kept else None
        if kept and (kept[-1].time or 0) < totals.time - 3 * self.window:
            kept.clear()  # nothing for a while: no rate across the gap
        kept.append(totals)
        while len(kept) > 2 and (kept[1].time or 0) <= totals.time - self.window:
            kept.popleft()
        return kept[0] if len(kept) > 1 else None


class History:
    """The last ``seconds`` of time series points (at most ``size``), encoded."""

    def __init__(
        self,
        size: int = 300,
        seconds: float = HISTORY_SECONDS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.seconds = seconds
        self._clock = clock
        self._points: deque[tuple[float, bytes]] = deque(maxlen=size)
        self._lock = threading.Lock()
        self.touched = float("-inf")  # time.monotonic() of the last add

    def add(self, point: dict) -> None:
        """Keep ``point`` unless it is not newer than the newest one kept."""
        self.touched = time.monotonic()
        t = point.get("t")
        if t is None:
            return
        with self._lock:
            if self._points and self._points[-1][0] >= t:
                return  # the same snapshot again (an idle process reuses it)
            self._points.append((t, encode(point)))

    def encoded(self) -> bytes:
        """``{"points": [...]}`` of the last ``seconds``, oldest first."""
        since = self._clock() - self.seconds
        with self._lock:
            while self._points and self._points[0][0] < since:
                self._points.popleft()
            parts = [encoded for _, encoded in self._points]
        return b'{"points":[' + b",".join(parts) + b"]}"

    def __len__(self) -> int:
        return len(self._points)


class HistorySampler:
    """An ``EventSink`` that adds a point to ``history`` while no page is connected."""

    name = "dashboard-history"

    def __init__(
        self,
        produce: Callable[[], MetricsData | None],
        history: History | None = None,
        every: float = SAMPLE_EVERY,
        window: float = 10.0,
    ) -> None:
        self._produce = produce
        self.history = history if history is not None else History()
        self.every = every
        self._window = RateWindow(window)
        self.samples = self.failures = 0

    def handle_batch(self, events: Sequence) -> None:
        # Per batch: one clock read. A connected page's loop touches the history every
        # second, so nothing is sampled while someone watches.
        if time.monotonic() - self.history.touched < self.every:
            return
        self.history.touched = time.monotonic()
        try:
            totals = read_totals(self._produce())
            point = history_point(totals.time, window_view(totals, self._window.baseline(totals)))
            self.history.add(point)
            self.samples += 1
        except Exception:  # the history is a convenience: never the bridge's problem
            self.failures += 1
            if self.failures == 1:
                logger.exception("dashboard: could not sample the history")

    handle_forward = handle_batch

    def shutdown(self, timeout: float) -> None:
        """Nothing to flush: the history lives in memory."""


def producers_snapshot(reader) -> Callable[[], MetricsData | None]:
    """The producers' metrics of ``reader`` (a ``SharedMetricReader``), no SDK collection."""
    return lambda: reader.produce_into(MetricsData(resource_metrics=[]), None)
