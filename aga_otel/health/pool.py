"""A small pool of daemon worker threads for running health checks.

``concurrent.futures.ThreadPoolExecutor`` is not usable here: its workers are joined at
interpreter exit, so one plugin call that hangs forever would hang the process's exit.
These workers are daemon threads, start on demand up to ``max_workers`` and leave after
``idle_timeout`` seconds without work, so an idle process holds no health threads.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

__all__ = ["DaemonPool"]


class DaemonPool:
    """Run callables on daemon threads; ``submit`` returns a standard ``Future``.

    A new worker starts whenever queued items outnumber waiting workers, so a worker
    stuck in a hung call never delays another check (up to ``max_workers``). All the
    bookkeeping happens under one condition's lock, so the counts are exact.
    """

    def __init__(
        self, max_workers: int = 8, idle_timeout: float = 30.0, name: str = "aga-otel-health-check"
    ) -> None:
        self._max = max(1, int(max_workers))
        self._idle_timeout = idle_timeout
        self._name = name
        self._cond = threading.Condition()
        self._items: deque[tuple[Future, Callable[[], Any]]] = deque()
        self._threads = 0
        self._waiting = 0
        self._serial = 0
        self._closed = False

    def submit(self, fn: Callable[[], Any]) -> Future:
        """Queue ``fn``; a closed pool returns a future that already failed."""
        fut: Future = Future()
        with self._cond:
            if self._closed:
                fut.set_exception(RuntimeError("health check pool is shut down"))
                return fut
            self._items.append((fut, fn))
            if len(self._items) > self._waiting and self._threads < self._max:
                self._threads += 1
                self._serial += 1
                threading.Thread(
                    target=self._work, name=f"{self._name}-{self._serial}", daemon=True
                ).start()
            self._cond.notify()
        return fut

    @property
    def threads(self) -> int:
        """Worker threads currently alive (busy or idle)."""
        with self._cond:
            return self._threads

    def _next(self) -> tuple[Future, Callable[[], Any]] | None:
        """The next item, or None when this worker should leave (idle or closed)."""
        with self._cond:
            while not self._items:
                if self._closed:
                    self._threads -= 1
                    return None
                self._waiting += 1
                woken = self._cond.wait(self._idle_timeout)
                self._waiting -= 1
                if not woken and not self._items:
                    self._threads -= 1
                    return None
            return self._items.popleft()

    def _work(self) -> None:
        while (item := self._next()) is not None:
            fut, fn = item
            if fut.set_running_or_notify_cancel():
                try:
                    fut.set_result(fn())
                except BaseException as exc:  # a check's failure is its result
                    fut.set_exception(exc)

    def shutdown(self) -> None:
        """Stop accepting work and let idle workers leave; busy (hung) ones are abandoned."""
        with self._cond:
            self._closed = True
            pending, self._items = list(self._items), deque()
            self._cond.notify_all()
        for fut, _ in pending:
            if fut.set_running_or_notify_cancel():
                fut.set_exception(RuntimeError("health check pool is shut down"))
