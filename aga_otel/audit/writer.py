"""Batches accepted audit records onto a store from one background thread.

``submit`` is called from the bridge's worker thread and only appends to a bounded
backlog. The writer thread flushes every ``flush_interval`` seconds or as soon as
``batch_size`` records wait, and runs retention pruning on a schedule. A failing store
(unwritable path, full disk) keeps records in the backlog, counts what overflows, marks
the ``audit`` component degraded with one log line, and recovers by itself.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from collections import deque

from aga_otel.audit.base import AuditStore
from aga_otel.audit.chain import AuditRecord
from aga_otel.semconv import DROP_AUDIT_BACKLOG_FULL, DROP_AUDIT_UNWRITTEN
from aga_otel.status import StatusBoard

logger = logging.getLogger(__name__)

COMPONENT = "audit"


class AuditWriter:
    """Owns the writer thread for one :class:`AuditStore`."""

    def __init__(
        self,
        store: AuditStore,
        status: StatusBoard,
        batch_size: int = 100,
        flush_interval: float = 10.0,
        retention_days: float | None = 90,
        max_backlog: int | None = None,
        clock=time.time,
    ) -> None:
        self.store = store
        self.status = status
        self.batch_size = batch_size
        self.flush_interval = flush_interval
        self.retention_s = retention_days * 86400 if retention_days else None
        # Prune often enough that retention is honoured within ~10 %, at most hourly.
        self.prune_every = min(3600.0, self.retention_s / 10) if self.retention_s else None
        self.max_backlog = max_backlog or max(100 * batch_size, 10000)
        self._clock = clock
        self._backlog: deque[AuditRecord] = deque()
        self._lock = threading.Lock()
        self._write_lock = threading.Lock()  # one flush at a time (thread or caller)
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._failing = False
        self._next_prune = 0.0
        self._thread: threading.Thread | None = None
        self.accepted = self.written = self.dropped = self.write_failures = self.pruned = 0
        self.lost_after_close = 0
        # ``dropped`` by reason (aga_otel_events_dropped_total{reason}); they sum to it.
        self.lost = {DROP_AUDIT_BACKLOG_FULL: 0, DROP_AUDIT_UNWRITTEN: 0}
        self._closed = False
        self._close_on_exit = False
        self._pid = os.getpid()
        status.register(COMPONENT, f"{store.backend} store")

    def start(self) -> None:
        """Open the store now (an unwritable path shows at start-up, not at the first
        audit event) and start the writer thread."""
        try:
            self.store.open()
        except Exception as exc:
            self._on_failure(exc)
        else:
            self._on_success()
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="aga-otel-audit", daemon=True)
            self._thread.start()

    def submit(self, record: AuditRecord) -> None:
        """Queue one record (worker thread); never blocks on I/O, never raises."""
        with self._lock:  # one hold: the commonest call of the audit path
            if self._closed:  # handed over after the final flush: counted, never silent
                self.dropped += 1
                self.lost_after_close += 1
                self.lost[DROP_AUDIT_UNWRITTEN] += 1
                first_lost, first_overflow = self.lost_after_close == 1, False
            elif len(self._backlog) >= self.max_backlog:
                self.dropped += 1
                self.lost[DROP_AUDIT_BACKLOG_FULL] += 1
                first_lost, first_overflow = False, self.dropped == 1
            else:
                self._backlog.append(record)
                self.accepted += 1
                if len(self._backlog) >= self.batch_size:
                    self._wake.set()
                return
        if first_lost:
            logger.error("audit record received after the audit writer shut down; dropped")
        elif first_overflow:
            logger.error(
                "audit backlog full (%d records: the %s store is failing or slower than the "
                "audit rate); counting and dropping new audit records",
                self.max_backlog,
                self.store.backend,
            )

    def flush(self, deadline: float | None = None) -> bool:
        """Write everything queued now (until the ``time.monotonic()`` deadline, if given);
        True when the backlog is empty afterwards."""
        wait = -1 if deadline is None else max(0.0, deadline - time.monotonic())
        if not self._write_lock.acquire(timeout=wait):
            return False  # another flush holds the store past our deadline
        try:
            return self._flush_locked(deadline)
        finally:
            self._write_lock.release()

    def _flush_locked(self, deadline: float | None) -> bool:
        # The writer thread's own flushes (no deadline) give way as soon as shutdown starts,
        # so shutdown's bounded flush gets the store.
        while (deadline is None and not self._stop.is_set()) or (
            deadline is not None and time.monotonic() < deadline
        ):
            with self._lock:
                batch = [self._backlog[i] for i in range(min(self.batch_size, len(self._backlog)))]
            if not batch:
                if self.store.held():  # replay what the store spilled in an outage
                    return self._retry_held()
                return True
            try:
                self.store.append(batch)
            except Exception as exc:
                self._on_failure(exc)
                return False
            with self._lock:
                # Shutdown may have given up on this batch meanwhile (cleared the backlog
                # and counted it dropped): it was written after all, so count it so.
                kept = min(len(batch), len(self._backlog))
                for _ in range(kept):
                    self._backlog.popleft()
                self.written += len(batch)
                self.dropped -= len(batch) - kept
                self.lost[DROP_AUDIT_UNWRITTEN] -= len(batch) - kept
            self._on_success()
        with self._lock:
            return not self._backlog

    def _retry_held(self) -> bool:
        try:
            self.store.append([])
        except Exception as exc:
            self._on_failure(exc)
            return False
        self._on_success()
        return True

    def _on_failure(self, exc: Exception) -> None:
        self.write_failures += 1
        detail = f"{self.store.backend} store write failed: {type(exc).__name__}: {exc}"
        self.status.failure(COMPONENT, detail, backlog=len(self._backlog), dropped=self.dropped)
        if not self._failing:  # one line per outage, not per retry
            self._failing = True
            logger.error(
                "%s; keeping up to %d records in memory and retrying every %.1f s",
                detail,
                self.max_backlog,
                self.flush_interval,
            )
        with contextlib.suppress(Exception):
            self.store.close()  # reopen next time: the path may have been fixed

    def _on_success(self) -> None:
        if self._failing:
            self._failing = False
            with self._lock:
                waiting = len(self._backlog)
            logger.warning(
                "audit %s store writable again; %s",
                self.store.backend,
                f"{waiting} records still waiting" if waiting else "backlog flushed",
            )
        extra = {"backlog": len(self._backlog), "dropped": self.dropped,
                 "last_seq": self.store.last_seq, **self.store.stats()}  # fmt: skip
        problem = self.store.health()  # e.g. a database outage absorbed by a local spill
        if problem is None:
            self.status.success(COMPONENT, f"{self.store.backend} store", **extra)
        else:
            self.status.failure(COMPONENT, f"{self.store.backend} store: {problem}", **extra)

    def prune_now(self) -> int:
        """Apply retention once (also run on schedule by the writer thread)."""
        if self.retention_s is None:
            return 0
        with self._write_lock:
            try:
                n = self.store.prune(self._clock() - self.retention_s)
            except Exception as exc:
                logger.error("audit retention pruning failed: %s: %s", type(exc).__name__, exc)
                return 0
        self.pruned += n
        return n

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self.flush_interval)
            self._wake.clear()
            self.flush()
            if self.prune_every is not None and time.monotonic() >= self._next_prune:
                self._next_prune = time.monotonic() + self.prune_every
                self.prune_now()
        if self._close_on_exit:  # shutdown left the store to this thread (it was busy)
            with contextlib.suppress(Exception):
                self.store.close()

    def shutdown(self, timeout: float = 5.0) -> bool:
        """Stop the thread and write everything accepted, within ``timeout`` seconds.

        True when nothing was left. What could not be written is counted as dropped and
        logged; a record submitted afterwards is counted and logged too (``submit``).
        """
        if os.getpid() != self._pid:
            # Inherited over fork(): the backlog, the store's connection and the locks are
            # the parent's (its thread may have held them); it writes and closes them.
            self._closed = True
            return False
        deadline = time.monotonic() + timeout
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
        busy = self._thread is not None and self._thread.is_alive()
        ok = self.flush(deadline) and not busy
        with self._lock:
            self._closed = True
            left = len(self._backlog)
            self._backlog.clear()
            self.dropped += left
            self.lost[DROP_AUDIT_UNWRITTEN] += left
        if left:
            logger.error(
                "audit shutdown: %d accepted records not written (%s store); counted as "
                "aga_otel_events_dropped_total{reason=\"%s\"}", left, self.store.backend,
                DROP_AUDIT_UNWRITTEN,
            )  # fmt: skip
        if busy:  # closing would wait for its write: the thread closes when it ends
            self._close_on_exit = True
            busy = self._thread.is_alive()  # it may have ended meanwhile
        if not busy:
            with contextlib.suppress(Exception):
                self.store.close()
        return ok and not left

    def stats(self) -> dict:
        with self._lock:
            backlog = len(self._backlog)
        return {
            "backend": self.store.backend,
            "accepted": self.accepted,
            "written": self.written,
            "backlog": backlog,
            "dropped": self.dropped,
            "write_failures": self.write_failures,
            "pruned": self.pruned,
            "lost_after_close": self.lost_after_close,
            "lost": dict(self.lost),
            "degraded": self._failing or self.store.health() is not None,
            **self.store.stats(),
        }
