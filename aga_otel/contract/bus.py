"""An EventBus following aga-core 4.4's ``aga.instrumentation.EventBus`` contract."""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

logger = logging.getLogger(__name__)

Handler = Callable[["Event"], Any]


@dataclass
class Event:
    type: str
    timestamp: float
    data: dict = field(default_factory=dict)
    source: str = "aga-core"


class EventBus:
    """Synchronous publish/subscribe bus with a bounded ring buffer.

    ``emit`` runs every handler subscribed to the event's type, then every ``"*"`` handler,
    on the emitting thread; a handler's exception is logged at debug level and swallowed.
    """

    def __init__(self, buffer_size: int = 10000, enabled: bool = True) -> None:
        self._buffer: deque[Event] = deque(maxlen=buffer_size)
        self._buffer_size = buffer_size
        # type -> list of (handler, subscriber_id); lists are replaced, never mutated, so
        # emit can iterate them without a lock.
        self._subs: dict[str, list[tuple[Handler, str | None]]] = {}
        self._lock = threading.Lock()
        self._enabled = enabled
        self._total_emitted = 0
        self._total_consumed = 0

    @property
    def enabled(self) -> bool:
        return self._enabled

    @enabled.setter
    def enabled(self, value: bool) -> None:
        self._enabled = bool(value)

    def emit(self, event_type: str, data: dict) -> None:
        if not self._enabled:
            return
        event = Event(type=event_type, timestamp=time.time(), data=data)
        self._buffer.append(event)
        self._total_emitted += 1
        subs = self._subs
        for handler, _ in subs.get(event_type, ()):
            self._call(handler, event)
        if event_type != "*":
            for handler, _ in subs.get("*", ()):
                self._call(handler, event)

    def _call(self, handler: Handler, event: Event) -> None:
        try:
            handler(event)
            self._total_consumed += 1
        except Exception as exc:  # the contract: emit never raises
            logger.debug("event handler %r failed: %s", handler, exc)

    def subscribe(
        self, event_type: str, handler: Handler, subscriber_id: str | None = None
    ) -> None:
        with self._lock:
            subs = dict(self._subs)
            subs[event_type] = [*subs.get(event_type, ()), (handler, subscriber_id)]
            self._subs = subs

    def unsubscribe(
        self, event_type: str, handler: Handler | None = None, subscriber_id: str | None = None
    ) -> None:
        with self._lock:
            subs: dict[str, list[tuple[Handler, str | None]]] = {}
            for etype, entries in self._subs.items():
                if subscriber_id is not None:
                    kept = [e for e in entries if e[1] != subscriber_id]
                elif etype == event_type:
                    kept = [e for e in entries if e[0] != handler]
                else:
                    kept = list(entries)
                if kept:
                    subs[etype] = kept
            self._subs = subs

    def query(
        self, event_type: str | None = None, limit: int = 100, since: float | None = None
    ) -> list[dict]:
        out = []
        for ev in reversed(list(self._buffer)):
            if event_type is not None and ev.type != event_type:
                continue
            if since is not None and ev.timestamp < since:
                continue
            out.append({"type": ev.type, "timestamp": ev.timestamp, "data": ev.data})
            if len(out) >= limit:
                break
        return out

    def get_stats(self) -> dict:
        return {
            "total_emitted": self._total_emitted,
            "total_consumed": self._total_consumed,
            "buffer_size": len(self._buffer),
            "buffer_capacity": self._buffer_size,
            "subscribers": {t: len(e) for t, e in self._subs.items()},
        }
