"""The bridge: the EventBus handlers (hot path) and the worker thread behind them.

The handler runs inside the LLM's forward pass, on the emitting thread. It appends the
event to a bounded ``collections.deque`` and returns: ``deque.append`` and ``len`` are
atomic under the GIL, so many emitting threads need no lock, and no condition variable is
signalled (``queue.Queue.put_nowait`` measured 1.4 µs per event here, over the 1 µs
budget; a deque with a length check 0.4 µs). When a lane is full the event is dropped and
counted with ``itertools.count``, whose ``next`` is atomic in CPython.

Three lanes, so that the flood cannot crowd out the record:

- **forward** (``queue_size``): ~all of the traffic. With tracing off the event goes in as
  is; with ``capture_context=True`` (:meth:`EventBridge.handle_traced`, chosen at subscribe
  time) as ``(event, context)``.
- **audit** (``rare_queue_size``): what was done to the knowledge base. Forward traffic
  cannot fill it; its drops are counted apart (``audit_queue_full``).
- **other**: retrieval events and unknown types.

Audit and other events always carry the emitting thread's OpenTelemetry ``Context`` (one
context-variable read; they are rare), so the request's trace reaches audit rows and spans
even with tracing export off, and a sequence number, so the worker dispatches the two lanes in
emission order. The worker turns ``(event, context)`` pairs back into events
for the sinks (see :mod:`aga_otel.tracing.capture`).

The worker wakes on a slow cadence (``interval``, 1 s), not by polling; a reader that needs
fresh data wakes it (:meth:`EventBridge.sync`: the alert engine before each evaluation, every
new snapshot), and so does a burst (the forward lane at an eighth of its capacity). At
generation pacing a pass then finds hundreds of events, so its fixed cost is shared and the
aggregation loop runs warm. ``drain()`` and ``stop()`` wake it at once.
Each pass is dispatched in chunks with a GIL release between them, so the model's thread
never waits for a whole pass.
"""

from __future__ import annotations

import itertools
import logging
import operator
import threading
import time
import uuid
from collections import deque
from collections.abc import Sequence
from typing import Any

from opentelemetry.context import get_current as _current_context

from aga_otel import semconv as sc
from aga_otel.pipeline import EventSink
from aga_otel.status import LossWatch, Status, StatusBoard
from aga_otel.tracing.capture import unwrap_batch

logger = logging.getLogger(__name__)

_FORWARD = sc.EVENT_FORWARD
_AUDIT = sc.EVENT_AUDIT
_BATCH = 4096  # items taken from the forward lane per pass
_CHUNK = 256  # items dispatched between two GIL releases (~0.5-1 ms of work)
_INTERVAL = 1.0  # seconds between worker wake-ups when no consumer asks sooner
_IDLE_INTERVAL = 1.0  # the longest wait, reached by doubling while nothing arrives
AUDIT_LANE = "audit.lane"  # status component: audit events lost before the audit trail
_AUDIT_LOSS_MEMORY = 60.0  # seconds a loss keeps the audit lane degraded


_SEQ = operator.itemgetter(2)


def _count_of(counter: itertools.count) -> int:
    # itertools.count has no read; its repr holds the next value.
    return int(repr(counter)[6:-1])


class EventBridge:
    """Subscribes to contract EventBuses and feeds their events to sinks off the hot path."""

    def __init__(
        self,
        sinks: Sequence[EventSink],
        queue_size: int = 65536,
        status: StatusBoard | None = None,
        capture_context: bool = False,
        rare_queue_size: int = 16384,
        interval: float = _INTERVAL,
    ) -> None:
        self.sinks = list(sinks)
        # Fixed for the bridge's lifetime: forward items are (event, context) pairs iff set.
        self._capture_context = bool(capture_context)
        self.queue_size = queue_size
        self.rare_queue_size = rare_queue_size
        self.interval = interval
        self.status = status or StatusBoard()
        self._queue: deque = deque()  # forward lane
        self._audit: deque = deque()  # audit lane: (event, context)
        self._other: deque = deque()  # retrieval and unknown types: (event, context)
        self._dropped_full = itertools.count()
        self._dropped_audit = itertools.count()
        self._rare_seq = itertools.count()
        self._dequeued = 0
        self._lost_at_stop = 0
        self._buses: list[tuple[Any, str]] = []
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._abandon = False  # set when stop() gives up: dispatch nothing more
        self._thread: threading.Thread | None = None
        self._idle = threading.Event()
        self._high_water = max(1, queue_size // 8)  # the forward lane's early wake-up
        self._passes = threading.Condition()  # passes started / finished, for sync()
        self._started = self._finished = 0
        self._forward_sinks: list = []
        self._split_sinks()
        self._audit_loss = LossWatch(
            self.status, AUDIT_LANE, logger, memory=_AUDIT_LOSS_MEMORY,
            message=f"aga-otel: %d audit events lost: the audit lane ({rare_queue_size}) was full",
            detail="{lost} audit events lost (audit lane full)",
            recovered=f"no audit events lost for {_AUDIT_LOSS_MEMORY:.0f} s",
        )  # fmt: skip
        self.status.register("bridge")
        self.status.register(AUDIT_LANE, "no audit events lost")

    def _split_sinks(self) -> None:
        self._forward_sinks = [getattr(s, "handle_forward", s.handle_batch) for s in self.sinks]

    # --- the hot path ------------------------------------------------------------------------
    def handle(self, event: Any) -> None:
        """The EventBus handler: hand over and return. Never raises."""
        try:
            if event.type == _FORWARD:
                q = self._queue
                n = len(q)
                if n < self.queue_size:
                    q.append(event)
                    if n == self._high_water:  # a burst: do not wait for the cadence
                        self._wake.set()
                else:
                    next(self._dropped_full)
                return
        except Exception:  # no ``type``, or a hostile one: the worker counts it
            pass
        self._handle_rare(event)

    def handle_traced(self, event: Any) -> None:
        """The handler with tracing on: forward events carry the emitter's context too.

        Only the Context object is read here (~60 ns); the span lookup, the validity check
        and the wrapping happen on the worker. aga-core's ``Event`` is never touched.
        """
        try:
            if event.type == _FORWARD:
                q = self._queue
                n = len(q)
                if n < self.queue_size:
                    q.append((event, _current_context()))
                    if n == self._high_water:
                        self._wake.set()
                else:
                    next(self._dropped_full)
                return
        except Exception:
            pass
        self._handle_rare(event)

    def _handle_rare(self, event: Any) -> None:
        """Audit, retrieval and unknown events: their own lanes, with the emitter's context."""
        try:
            # The sequence number restores emission order across the two lanes (an
            # injection must follow the register that preceded it); ``next`` is atomic.
            item = (event, _current_context(), next(self._rare_seq))
            try:
                audit = event.type == _AUDIT
            except Exception:
                audit = False
            if audit:
                if len(self._audit) < self.rare_queue_size:
                    self._audit.append(item)
                else:
                    next(self._dropped_audit)
            elif len(self._other) < self.rare_queue_size:
                self._other.append(item)
            else:
                next(self._dropped_full)
        except Exception:  # never into aga-core
            next(self._dropped_full)

    @property
    def capture_context(self) -> bool:
        """Whether forward events carry the emitting thread's trace context."""
        return self._capture_context

    # --- subscription ---------------------------------------------------------------------
    def subscribe(self, bus: Any) -> str:
        """Subscribe to ``"*"`` on ``bus`` with a unique subscriber id (returned)."""
        sub_id = f"aga-otel-{uuid.uuid4().hex[:12]}"
        handler = self.handle_traced if self._capture_context else self.handle
        bus.subscribe("*", handler, subscriber_id=sub_id)
        self._buses.append((bus, sub_id))
        self.status.success("bridge", f"subscribed to {len(self._buses)} bus(es)")
        return sub_id

    def unsubscribe_all(self) -> None:
        for bus, sub_id in self._buses:
            try:
                bus.unsubscribe("*", subscriber_id=sub_id)
            except Exception as exc:
                logger.warning("aga-otel: could not unsubscribe from the event bus: %s", exc)
        self._buses.clear()

    @property
    def buses(self) -> list:
        """The buses this bridge is subscribed to."""
        return [bus for bus, _ in self._buses]

    @property
    def subscribed(self) -> bool:
        return bool(self._buses)

    # --- the worker -----------------------------------------------------------------------
    def start(self) -> None:
        self._stop.clear()
        self._split_sinks()
        self._thread = threading.Thread(target=self._run, name="aga-otel-bridge", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        # A wake-up costs ~50-100 µs of CPU on a virtual machine, so an idle worker backs
        # off to one a second; the first event seen brings the cadence back to ``interval``.
        wait = self.interval
        while not self._abandon:
            self._idle.clear()
            with self._passes:
                self._started += 1
            try:
                taken = self._pass()
            finally:
                with self._passes:
                    self._finished += 1
                    self._passes.notify_all()
            if taken >= _BATCH:
                continue  # more is waiting
            self._idle.set()  # only ever set right after finding every lane (nearly) empty
            if self._stop.is_set():
                if self._queued():
                    continue
                return
            wait = self.interval if taken else min(wait * 2, max(self.interval, _IDLE_INTERVAL))
            self._wake.wait(wait)
            self._wake.clear()

    def sync(self, timeout: float = 0.25) -> bool:
        """Wait until what is queued now has been handed to the sinks (at most ``timeout``),
        so a reader sees every event emitted before it. At once when nothing is queued or in
        flight; False when the worker is not running or the wait timed out."""
        thread = self._thread
        if thread is None or not thread.is_alive() or threading.current_thread() is thread:
            return False
        with self._passes:
            if self._queued():
                target = self._started + 1  # a pass that starts after now
            elif self._started != self._finished:
                target = self._started  # the pass in flight holds taken events
            else:
                return True
            self._wake.set()
            return self._passes.wait_for(lambda: self._finished >= target, timeout)

    def _pass(self) -> int:
        """Take what is queued (the forward lane up to ``_BATCH``) and dispatch it."""
        self._audit_loss.check(self.dropped_audit_queue_full)
        rare = self._take(self._audit, self.rare_queue_size) + self._take(
            self._other, self.rare_queue_size
        )
        if rare:
            rare.sort(key=_SEQ)  # back in emission order
            self._dispatch(False, unwrap_batch([(event, ctx) for event, ctx, _ in rare]))
        forward = self._take(self._queue, _BATCH)
        for i in range(0, len(forward), _CHUNK):
            if i:
                time.sleep(0)  # let the model's thread have the GIL between chunks
            chunk = forward[i : i + _CHUNK]
            self._dispatch(True, unwrap_batch(chunk) if self._capture_context else chunk)
        return len(rare) + len(forward)

    def _take(self, lane: deque, limit: int) -> list:
        batch: list = []
        pop, append = lane.popleft, batch.append
        try:
            for _ in range(limit):
                append(pop())
        except IndexError:
            pass
        self._dequeued += len(batch)
        return batch

    def _dispatch(self, forward: bool, batch: list) -> None:
        handlers = self._forward_sinks if forward else [s.handle_batch for s in self.sinks]
        for sink, handle in zip(self.sinks, handlers):
            if self._abandon:
                return
            try:
                handle(batch)
            except Exception as exc:  # one broken sink must not stop the others
                logger.exception("aga-otel: sink %s failed on a batch", sink.name)
                self.status.failure("bridge", f"sink {sink.name} failed: {exc!r}")

    def _queued(self) -> int:
        return len(self._queue) + len(self._audit) + len(self._other)

    def drain(self, timeout: float) -> bool:
        """Process what is queued now; wait until every lane is empty and the worker idle."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self._queued() and self._idle.is_set():
                return True
            if self._thread is None or not self._thread.is_alive():
                return not self._queued()
            self._wake.set()
            time.sleep(0.002)
        return False

    def stop(self, timeout: float) -> bool:
        """Unsubscribe, process what is queued, stop the worker within ``timeout`` seconds.

        True if everything queued was handed to the sinks. Past the deadline the worker is
        told to dispatch nothing more (the sinks it feeds are about to shut down), and what
        it did not hand over is counted (``aga_otel_events_dropped_total{reason="shutdown"}``)
        and logged.
        """
        self.unsubscribe_all()
        self._stop.set()
        self._wake.set()
        alive = False
        if self._thread is not None:
            self._thread.join(timeout)
            alive = self._thread.is_alive()
            if alive:
                self._abandon = True
        left = self._queued()
        if alive or left:
            self._lost_at_stop += left
            self._queue.clear()
            self._audit.clear()
            self._other.clear()
            logger.warning(
                "aga-otel: stopped with %d events not handed to the sinks%s",
                left,
                " (a sink was still busy at the deadline)" if alive else "",
            )
            self.status.failure("bridge", "stopped with events queued", Status.DEGRADED)
            return False
        return True

    # --- counts -------------------------------------------------------------------------
    @property
    def dropped_queue_full(self) -> int:
        return _count_of(self._dropped_full)

    @property
    def dropped_audit_queue_full(self) -> int:
        return _count_of(self._dropped_audit)

    @property
    def handed_over(self) -> int:
        """Items taken from the lanes so far (changes whenever new data reached the sinks)."""
        return self._dequeued

    @property
    def queue_depth(self) -> int:
        return self._queued()

    @property
    def worker_alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def stats(self) -> dict:
        dropped = {
            sc.DROP_QUEUE_FULL: self.dropped_queue_full,
            sc.DROP_AUDIT_QUEUE_FULL: self.dropped_audit_queue_full,
            sc.DROP_SHUTDOWN: self._lost_at_stop,
        }
        for sink in self.sinks:
            extra = getattr(sink, "dropped", None)
            if isinstance(extra, dict):
                for reason, n in extra.items():
                    dropped[reason] = dropped.get(reason, 0) + n
        handed_over = dropped[sc.DROP_QUEUE_FULL] + dropped[sc.DROP_AUDIT_QUEUE_FULL]
        return {
            "worker_alive": self.worker_alive,
            "subscribed": self.subscribed,
            "queue_depth": self.queue_depth,
            "queue_capacity": self.queue_size,
            "audit_queue_depth": len(self._audit),
            "audit_queue_capacity": self.rare_queue_size,
            "received": self._dequeued + handed_over + self._lost_at_stop,
            "dropped": dropped,
        }
