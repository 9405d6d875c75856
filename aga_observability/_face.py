"""What every 1.0 component face shares: it serves from an aga-otel ``ObservabilityStack``.

Inside aga_observability's ``ObservabilityStack`` a face exists from construction and binds
to the stack's components once ``start()`` has built them (calls made before are kept and
replayed). Used alone, as 1.0 allowed (``AlertManager().subscribe(bus)``), a face starts a
minimal aga-otel stack of its own with only what it needs: the same bridge hand-off on the
bus, the same metric reader and components, never a second implementation.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

logger = logging.getLogger("aga_observability")

# The longest a 1.0 read waits for aga-otel's worker to take what was emitted before it
# (a full forward lane takes a few passes of a few ms each).
_CATCH_UP_SECONDS = 2.0

# Everything off: a face switches on only its own component.
_QUIET = {
    "prometheus_enabled": False,
    "health_enabled": False,
    "log_enabled": False,
    "alert_enabled": False,
    "alert_default_rules": False,
    "otlp_metrics_enabled": False,
    "otlp_logs_enabled": False,
}


class Face:
    """Base of the component faces: binding to a stack, or running one of its own."""

    def __init__(self) -> None:
        self._stack: Any = None  # the aga-otel stack serving this face
        self._own = False  # True when this face started that stack itself
        self._subscriptions: list[tuple[Any, str]] = []
        self._face_lock = threading.RLock()

    # --- binding ---------------------------------------------------------------------------
    def _attach(self, stack: Any) -> None:
        """Serve from ``stack`` (started); replays what was configured before."""
        self._stack = stack
        self._on_attach(stack)

    def _on_attach(self, stack: Any) -> None:  # overridden by faces with state to replay
        pass

    def _standalone_config(self) -> dict[str, Any]:
        """The fields of the face's own stack (on top of everything off)."""
        return {}

    def _ensure_stack(self) -> Any:
        with self._face_lock:
            if self._stack is None:
                from aga_observability.config import ObservabilityConfig
                from aga_otel.contract import EventBus
                from aga_otel.stack import ObservabilityStack

                config = ObservabilityConfig(**{**_QUIET, **self._standalone_config()})
                # The face's buses are subscribed one by one (subscribe/unsubscribe below);
                # the stack's own bus is a private one that never emits.
                stack = ObservabilityStack(EventBus(), config, env={}).start()
                self._own = True
                self._attach(stack)
            return self._stack

    # --- 1.0 methods every component had ---------------------------------------------------------
    def subscribe(self, bus: Any) -> None:
        """Receive ``bus``'s events (its handler only hands them to aga-otel's worker)."""
        stack = self._ensure_stack()
        if not self._own:  # inside a 1.0 stack: one subscription serves every component
            if not any(b is bus for b in stack.bridge.buses):
                stack.add_event_bus(bus)
            return
        with self._face_lock:
            if not any(b is bus for b, _ in self._subscriptions):
                self._subscriptions.append((bus, stack.bridge.subscribe(bus)))

    def unsubscribe(self, bus: Any) -> None:
        """Stop receiving ``bus``'s events (inside a stack: ``stack.shutdown()`` does it)."""
        with self._face_lock:
            for b, sub_id in [s for s in self._subscriptions if s[0] is bus]:
                b.unsubscribe("*", subscriber_id=sub_id)
                self._subscriptions.remove((b, sub_id))

    def _catch_up(self) -> None:
        """Wait until every event emitted before the call has reached aga-otel's sinks.

        1.0 did its work on the emitting thread, so a read right after an emit saw it;
        aga-otel hands events to its worker, so a 1.0 read first waits for the passes that
        take what was queued at the call (a pass takes a bounded batch: there may be
        several). Runs on the reading thread; the emitting thread is never involved.
        """
        bridge = self._stack.bridge if self._stack is not None else None
        if bridge is None:
            return
        deadline = time.monotonic() + _CATCH_UP_SECONDS
        target = bridge.handed_over + bridge.queue_depth
        while bridge.handed_over < target and bridge.queue_depth:
            if not bridge.sync(max(0.0, deadline - time.monotonic())):
                return  # no worker (stopped), or it is too far behind: read what is there
        bridge.sync(max(0.0, deadline - time.monotonic()))  # the pass holding the last ones

    @property
    def subscribed(self) -> bool:
        if self._own:
            return bool(self._subscriptions)
        return self._stack is not None and bool(
            self._stack.bridge and self._stack.bridge.subscribed
        )

    def shutdown(self) -> None:
        """Stop the face's own stack (a stack's components stop with ``stack.shutdown()``)."""
        with self._face_lock:
            for bus, _ in list(self._subscriptions):
                self.unsubscribe(bus)
            if self._own and self._stack is not None:
                self._stack.shutdown()
