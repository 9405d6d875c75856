"""A small pool of daemon worker threads for running health checks.

``concurrent.futures.ThreadPoolExecutor`` is not usable here: its workers are joined at
interpreter exit, so one plugin call that hangs forever would hang the process's exit.
These workers are daemon threads, start on demand up to ``max_workers`` and leave after
``idle_timeout`` seconds without work, so an idle process holds no health threads.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

__all__ = ["DaemonPool"]


class DaemonPool:
    """Run callables on daemon threads; ``submit`` returns a standard ``Future``."""

    def __init__(
        self, max_workers: int = 8, idle_timeout: float = 30.0, name: str = "aga-otel-health"
    ) -> None:
        self._max = max(1, int(max_workers))
        self._idle_timeout = idle_timeout
        self._name = name
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._threads = 0
        self._idle = 0
        self._closed = False

    def submit(self, fn: Callable[[], Any]) -> Future:
        """Queue ``fn``; a closed pool returns a future that already failed."""
        fut: Future = Future()
        with self._lock:
            if self._closed:
                fut.set_exception(RuntimeError("health check pool is shut down"))
                return fut
            self._queue.put((fut, fn))
            # Counted under the same lock as the worker's idle bookkeeping, so a queued
            # item always has a worker that will see it.
            if self._idle == 0 and self._threads < self._max:
                self._threads += 1
                threading.Thread(
                    target=self._work, name=f"{self._name}-{self._threads}", daemon=True
                ).start()
            else:
                self._idle = max(0, self._idle - 1)
        return fut

    @property
    def threads(self) -> int:
        """Worker threads currently alive (busy or idle)."""
        with self._lock:
            return self._threads

    def _work(self) -> None:
        while True:
            try:
                item = self._queue.get(timeout=self._idle_timeout)
            except queue.Empty:
                with self._lock:
                    if self._queue.empty() or self._closed:
                        self._threads -= 1
                        self._idle = max(0, self._idle - 1)
                        return
                continue
            if item is None:  # shutdown sentinel
                with self._lock:
                    self._threads -= 1
                return
            fut, fn = item
            if fut.set_running_or_notify_cancel():
                try:
                    fut.set_result(fn())
                except BaseException as exc:  # a check's failure is its result
                    fut.set_exception(exc)
            with self._lock:
                self._idle += 1

    def shutdown(self) -> None:
        """Stop accepting work and let idle workers leave; busy (hung) ones are abandoned."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            workers = self._threads
        for _ in range(workers):
            self._queue.put(None)
