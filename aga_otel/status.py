"""Component status board: every pipeline component reports its own state here.

Exporters, stores and servers call ``report`` when something succeeds or fails; the health
module and ``ObservabilityStack.get_stats()`` read ``snapshot``. A component that fails
degrades itself here (with a clear log line at the call site), never the process.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any

from aga_otel.redaction import redact_text
from aga_otel.semconv import ATTR_EXPORTER

_LOG = logging.getLogger("aga_otel")


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
        self._export_failures: dict[str, int] = {}
        self._uncounted: dict[str, int] = {}  # failures before a counter was set
        self._failure_counter: Any = None

    # --- aga_otel_export_failures_total, fed by every ExportReporter ----------------------
    def set_failure_counter(self, counter: Any) -> None:
        """Count export failures in ``counter`` (``aga.otel.export.failures``) from now on;
        failures reported before are added at once, so none is lost to start-up order."""
        with self._lock:
            self._failure_counter = counter
            earlier, self._uncounted = self._uncounted, {}
        for exporter, n in earlier.items():
            counter.add(n, {ATTR_EXPORTER: exporter})

    def export_failed(self, exporter: str, n: int = 1, counter: Any = None) -> None:
        """One failed export/write/delivery attempt of ``exporter``; ``counter`` overrides
        the board's own (a sink created with its counter must not be counted twice)."""
        with self._lock:
            self._export_failures[exporter] = self._export_failures.get(exporter, 0) + n
            counter = counter if counter is not None else self._failure_counter
            if counter is None:
                self._uncounted[exporter] = self._uncounted.get(exporter, 0) + n
        if counter is not None:
            counter.add(n, {ATTR_EXPORTER: exporter})

    def export_failures(self) -> dict[str, int]:
        """Failed attempts so far, by exporter."""
        with self._lock:
            return dict(self._export_failures)

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


class LossWatch:
    """Degrades ``component`` while a loss counter grows, with one error line per increase
    (``message % new``), and reports it healthy again (``recovered``) once ``memory`` seconds
    passed without a new loss. ``detail`` is formatted with ``lost``, the counter's value."""

    def __init__(
        self, status: StatusBoard, component: str, log: logging.Logger, *, message: str,
        detail: str, recovered: str, memory: float = 60.0,
    ) -> None:  # fmt: skip
        self.status, self.component, self.log, self.memory = status, component, log, memory
        self.message, self.detail, self.recovered = message, detail, recovered
        self._seen = 0
        self._at = 0.0  # when the last loss was seen; 0: none remembered

    def check(self, lost: int) -> None:
        if lost > self._seen:
            new, self._seen, self._at = lost - self._seen, lost, time.monotonic()
            self.log.error(self.message, new)
            self.status.failure(
                self.component, self.detail.format(lost=lost), Status.DEGRADED, lost=lost
            )
        elif self._at and time.monotonic() - self._at > self.memory:
            self._at = 0.0
            self.status.success(self.component, self.recovered)


def optional_component(
    name: str, status: StatusBoard, build: Callable[[], Any],
    log: logging.Logger = _LOG,
) -> Any:  # fmt: skip
    """Build one component; a failure disables it (logged, on the status board), not the stack."""
    try:
        return build()
    except Exception as exc:
        reason = redact_text(str(exc))
        log.error("aga-otel: %s component could not start: %s", name, reason)
        status.failure(name, f"could not start: {reason}", Status.UNHEALTHY)
        return None


def component_stats(component: Any) -> dict | None:
    """``component.stats()``; None without a component, ``{"error": ...}`` if it raises."""
    try:
        return None if component is None else component.stats()
    except Exception as exc:
        return {"error": repr(exc)}
