"""Runs a set of named checks concurrently, each bounded by a timeout.

A check that raises is unhealthy with the exception's type and (redacted) message. A check
that does not finish within ``timeout`` is unhealthy too, and stays so until its call
returns: it is never started again while the previous call is still running, so a plugin
that hangs ties up at most one worker per check instead of one per probe.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, wait
from functools import partial
from typing import Any

from aga_otel.health.pool import DaemonPool
from aga_otel.health.result import CheckResult, normalize

__all__ = ["Check", "CheckRunner"]

Check = Callable[[], Any]


class CheckRunner:
    """Named checks plus the pool that runs them."""

    def __init__(self, timeout: float = 0.8, max_workers: int = 16) -> None:
        self.timeout = timeout
        self._pool = DaemonPool(max_workers=max_workers)
        self._lock = threading.Lock()
        self._checks: dict[str, Check] = {}
        self._inflight: dict[str, tuple[Future, float]] = {}

    def add(self, name: str, fn: Check) -> None:
        """Register ``fn`` under ``name``; names are unique (they are metric label values)."""
        if not isinstance(name, str) or not name.strip() or len(name) > 64:
            raise ValueError(f"check name must be a non-empty string of at most 64 chars: {name!r}")
        if not callable(fn):
            raise TypeError(f"check {name!r} is not callable")
        with self._lock:
            if name in self._checks:
                raise ValueError(f"a health check named {name!r} already exists")
            self._checks[name] = fn

    @property
    def names(self) -> list[str]:
        with self._lock:
            return list(self._checks)

    def run(self) -> dict[str, tuple[CheckResult, float]]:
        """Run every check once; returns name → (result, duration in seconds).

        Returns within about ``timeout`` seconds whatever the checks do.
        """
        started: dict[str, tuple[Future, float]] = {}
        results: dict[str, tuple[CheckResult, float]] = {}
        now = time.monotonic()
        with self._lock:
            checks = dict(self._checks)
            for name, fn in checks.items():
                previous = self._inflight.get(name)
                if previous is not None and not previous[0].done():
                    hung_for = now - previous[1]
                    results[name] = (
                        CheckResult.unhealthy(
                            f"check has not returned for {hung_for:.1f}s (timed out)"
                        ),
                        hung_for,
                    )
                    continue
                fut = self._pool.submit(partial(_timed, fn))
                started[name] = self._inflight[name] = (fut, now)
        wait([f for f, _ in started.values()], timeout=self.timeout)
        for name, (fut, t0) in started.items():
            results[name] = self._outcome(fut, t0)
        return {name: results[name] for name in checks}  # registration order

    def _outcome(self, fut: Future, t0: float) -> tuple[CheckResult, float]:
        elapsed = time.monotonic() - t0
        if not fut.done():
            return CheckResult.unhealthy(f"check timed out after {self.timeout:.2f}s"), elapsed
        exc = fut.exception()
        if exc is not None:
            return CheckResult.unhealthy(f"check raised {type(exc).__name__}: {exc}"), elapsed
        value, duration = fut.result()
        try:
            return normalize(value), duration
        except Exception as err:  # a weird return value must not break the report
            return CheckResult.unhealthy(f"check result unusable: {type(err).__name__}"), elapsed

    def shutdown(self) -> None:
        self._pool.shutdown()


def _timed(fn: Check) -> tuple[Any, float]:
    t0 = time.perf_counter()
    value = fn()
    return value, time.perf_counter() - t0
