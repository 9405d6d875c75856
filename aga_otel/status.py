"""Component status board: every pipeline component reports its own state here.

Exporters, stores and servers call ``report`` when something succeeds or fails; the health
module and ``ObservabilityStack.get_stats()`` read ``snapshot``. A component that fails
degrades itself here (with a clear log line at the call site), never the process.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from enum import IntEnum


class Status(IntEnum):
    """Ordered so that the worst status is the minimum (and matches aga_health_status)."""

    UNHEALTHY = 0
    DEGRADED = 1
    HEALTHY = 2

    @property
    def label(self) -> str:
        return self.name.lower()


@dataclass
class ComponentState:
    name: str
    status: Status = Status.HEALTHY
    detail: str = ""
    last_success: float | None = None
    last_failure: float | None = None
    failures: int = 0
    extra: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        return {
            "status": self.status.label,
            "detail": self.detail,
            "last_success": self.last_success,
            "last_failure": self.last_failure,
            "failures": self.failures,
            **self.extra,
        }


class StatusBoard:
    """Thread-safe map of component name → ComponentState."""

    def __init__(self, clock=time.time) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._states: dict[str, ComponentState] = {}

    def register(self, name: str, detail: str = "") -> None:
        with self._lock:
            self._states.setdefault(name, ComponentState(name, detail=detail))

    def success(self, name: str, detail: str = "", **extra) -> None:
        with self._lock:
            st = self._states.setdefault(name, ComponentState(name))
            st.status, st.detail, st.last_success = Status.HEALTHY, detail, self._clock()
            st.extra.update(extra)

    def failure(self, name: str, detail: str, status: Status = Status.DEGRADED, **extra) -> None:
        with self._lock:
            st = self._states.setdefault(name, ComponentState(name))
            st.status, st.detail, st.last_failure = status, detail, self._clock()
            st.failures += 1
            st.extra.update(extra)

    def get(self, name: str) -> ComponentState | None:
        with self._lock:
            st = self._states.get(name)
            return (
                None if st is None else ComponentState(**{**st.__dict__, "extra": dict(st.extra)})
            )

    def snapshot(self) -> dict[str, dict]:
        with self._lock:
            return {name: st.as_dict() for name, st in sorted(self._states.items())}
