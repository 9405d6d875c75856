"""Checks of the telemetry pipeline itself, from what the pipeline publishes.

- the bridge's ``stats()`` (worker alive, subscribed, queue backlog),
- the shared reader's cumulative snapshots (drop rate from the ``events_received`` and
  ``events_dropped`` counters, as deltas over a sliding window),
- the StatusBoard, where exporters, stores and the webhook report their last outcome.

Only ``queue_full`` drops count towards the drop-rate status: ``malformed`` and
``unknown_type`` drops are about the input (e.g. a newer aga-core's event types), not about
the pipeline keeping up; they are shown in the data.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from typing import Any

from opentelemetry.sdk.metrics.export import MetricsData

from aga_otel import semconv
from aga_otel.health.result import CheckResult
from aga_otel.status import Status

__all__ = ["DropRateTracker", "check_queue", "check_worker", "component_result"]

QUEUE_DEGRADED = 0.9  # backlog share of the queue's capacity
DROP_DEGRADED = 0.01  # share of received events dropped for lack of queue space
DROP_UNHEALTHY = 0.5

_RECEIVED = semconv.metric("events_received").name
_DROPPED = semconv.metric("events_dropped").name


def check_worker(bridge_stats: Callable[[], Mapping]) -> CheckResult:
    """Worker thread alive (else unhealthy) and subscribed to the bus (else degraded)."""
    stats = bridge_stats()
    alive, subscribed = bool(stats.get("worker_alive")), bool(stats.get("subscribed"))
    data = {"worker_alive": alive, "subscribed": subscribed}
    if not alive:
        return CheckResult.unhealthy("bridge worker thread is not running", **data)
    if not subscribed:
        return CheckResult.degraded("bridge not subscribed to the event bus", **data)
    return CheckResult.healthy("worker running, subscribed", **data)


def check_queue(bridge_stats: Callable[[], Mapping]) -> CheckResult:
    """Hand-over queue backlog: degraded from 90 % of capacity."""
    stats = bridge_stats()
    depth, cap = stats.get("queue_depth"), stats.get("queue_capacity")
    data = {"queue_depth": depth, "queue_capacity": cap}
    if not isinstance(depth, int) or not isinstance(cap, int) or cap <= 0:
        return CheckResult.healthy("queue depth unknown", **data)
    usage = depth / cap
    data["queue_usage"] = usage
    if usage >= QUEUE_DEGRADED:
        return CheckResult.degraded(f"event queue {usage:.0%} full", **data)
    return CheckResult.healthy(f"{depth} events queued", **data)


class DropRateTracker:
    """Keeps (time, received, dropped-by-reason) samples from snapshots over ``window`` s."""

    def __init__(self, window: float = 60.0, clock: Callable[[], float] = time.monotonic):
        self.window = window
        self._clock = clock
        self._lock = threading.Lock()
        self._samples: deque[tuple[float, float, dict[str, float]]] = deque()

    def observe(self, metrics: MetricsData | None) -> None:
        """Record the counters of one cumulative snapshot (None: nothing recorded yet)."""
        if metrics is None:
            return
        self.observe_counts(*_read_counters(metrics))

    def observe_counts(self, received: float, dropped: dict[str, float]) -> None:
        """Record the counters as read from the bridge (what a snapshot's counters hold)."""
        now = self._clock()
        with self._lock:
            self._samples.append((now, received, dropped))
            # Keep one sample at or beyond the window's start, so the delta spans it.
            while len(self._samples) > 2 and self._samples[1][0] <= now - self.window:
                self._samples.popleft()

    def check(self) -> CheckResult:
        """Drop rate over the window: > 1 % degraded, > 50 % unhealthy (queue_full only)."""
        with self._lock:
            if len(self._samples) < 2:
                return CheckResult.healthy("no drop rate yet (waiting for two snapshots)")
            (t0, r0, d0), (t1, r1, d1) = self._samples[0], self._samples[-1]
        received = r1 - r0
        if received < 0:  # counters restarted (provider recreated): start over
            with self._lock:
                self._samples.clear()
            return CheckResult.healthy("counters reset; drop rate pending")
        by_reason = {reason: d1.get(reason, 0.0) - d0.get(reason, 0.0) for reason in d1}
        full = by_reason.get(semconv.DROP_QUEUE_FULL, 0.0)
        # queue_full drops are counted in events_received too (the handler saw them).
        rate = full / received if received > 0 else 0.0
        data = {
            "window_seconds": round(t1 - t0, 3),
            "received": received,
            "drop_rate": rate,
            "dropped": {k: v for k, v in by_reason.items() if v},
        }
        if rate > DROP_UNHEALTHY:
            return CheckResult.unhealthy(f"{rate:.0%} of events dropped (queue full)", **data)
        if rate > DROP_DEGRADED:
            return CheckResult.degraded(f"{rate:.1%} of events dropped (queue full)", **data)
        return CheckResult.healthy(f"drop rate {rate:.2%}", **data)


def _read_counters(metrics: MetricsData) -> tuple[float, dict[str, float]]:
    received = 0.0
    dropped: dict[str, float] = {}
    for rm in metrics.resource_metrics:
        for sm in rm.scope_metrics:
            for m in sm.metrics:
                if m.name == _RECEIVED:
                    received += sum(p.value for p in m.data.data_points)
                elif m.name == _DROPPED:
                    for p in m.data.data_points:
                        reason = str((p.attributes or {}).get(semconv.ATTR_REASON, "other"))
                        dropped[reason] = dropped.get(reason, 0.0) + p.value
    return received, dropped


def component_result(state: Mapping[str, Any]) -> CheckResult:
    """A StatusBoard entry (``ComponentState.as_dict()``) as a CheckResult."""
    try:
        status = Status[str(state.get("status", "unhealthy")).upper()]
    except KeyError:
        status = Status.UNHEALTHY
    data = {k: v for k, v in state.items() if k not in ("status", "detail")}
    return CheckResult(status, str(state.get("detail") or ""), data)
