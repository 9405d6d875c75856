"""``Broadcaster``: one update loop shared by every connected page, and only while one is.

The loop thread (``aga-otel-dashboard``) starts when the first client subscribes and ends
after the last one leaves, so a dashboard nobody watches takes no snapshot at all. Each
update is produced once (one snapshot, one JSON encoding) and the same bytes go to every
client; a client only ever waits for a newer payload than the one it last sent. Clients
are bounded (``max_clients``); an extra one is refused rather than queued.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

logger = logging.getLogger(__name__)

THREAD_NAME = "aga-otel-dashboard"


class Subscription:
    """One client's view of the broadcast: ``next()`` blocks until a newer payload."""

    def __init__(self, hub: Broadcaster, seen: int) -> None:
        self._hub = hub
        self._seen = seen
        self.closed = False

    def next(self, timeout: float) -> bytes | None:
        """The next payload; ``b""`` when ``timeout`` passed first; None once closed."""
        return self._hub._wait(self, timeout)

    def close(self) -> None:
        self._hub._leave(self)


class Broadcaster:
    """Runs ``produce()`` every ``interval`` seconds while at least one client listens."""

    def __init__(
        self,
        produce: Callable[[], bytes],
        interval: float = 1.0,
        max_clients: int = 8,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._produce = produce
        self.interval = interval
        self.max_clients = max_clients
        self._clock = clock
        self._cond = threading.Condition()
        self._clients: set[Subscription] = set()
        self._payload = b""
        self._seq = 0
        self._thread: threading.Thread | None = None
        self._closed = False
        self._updates = 0
        self._failures = 0
        self._cpu = 0.0

    # --- clients -------------------------------------------------------------------------------
    def subscribe(self) -> Subscription | None:
        """A new client, or None when ``max_clients`` are connected or it is closed."""
        with self._cond:
            if self._closed or len(self._clients) >= self.max_clients:
                return None
            sub = Subscription(self, self._seq)
            self._clients.add(sub)
            if self._thread is None:  # nobody was watching: start the loop
                self._thread = threading.Thread(target=self._loop, name=THREAD_NAME, daemon=True)
                self._thread.start()
            return sub

    def _leave(self, sub: Subscription) -> None:
        with self._cond:
            sub.closed = True
            self._clients.discard(sub)
            self._cond.notify_all()

    def _wait(self, sub: Subscription, timeout: float) -> bytes | None:
        deadline = self._clock() + timeout
        with self._cond:
            while not (sub.closed or self._closed) and self._seq <= sub._seen:
                left = deadline - self._clock()
                if left <= 0:
                    return b""
                self._cond.wait(left)
            if sub.closed or self._closed:
                return None
            sub._seen = self._seq
            return self._payload

    # --- the loop --------------------------------------------------------------------------------
    def _loop(self) -> None:
        while True:
            with self._cond:
                if self._closed or not self._clients:
                    self._thread = None  # the next subscriber starts a new loop
                    return
            started, cpu = time.monotonic(), time.thread_time()
            try:
                payload = self._produce()
            except Exception:
                self._failures += 1
                log = logger.exception if self._failures == 1 else logger.debug
                log("dashboard update failed")
            else:
                with self._cond:
                    self._payload, self._seq = payload, self._seq + 1
                    self._updates += 1
                    self._cpu += time.thread_time() - cpu
                    self._cond.notify_all()
            with self._cond:  # sleep, but wake at once on close or when the last client leaves
                self._cond.wait_for(
                    lambda: self._closed or not self._clients,
                    max(0.0, self.interval - (time.monotonic() - started)),
                )

    # --- lifecycle and figures ---------------------------------------------------------------------
    def close(self, timeout: float = 2.0) -> None:
        """End every client's stream and the loop; idempotent."""
        with self._cond:
            self._closed = True
            thread = self._thread
            self._cond.notify_all()
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)

    def stats(self) -> dict:
        """``clients``, ``running``, ``updates`` (payloads produced), ``failures``, ``cpu_s``."""
        with self._cond:
            return {
                "clients": len(self._clients),
                "running": self._thread is not None,
                "updates": self._updates,
                "failures": self._failures,
                "cpu_s": self._cpu,
            }
