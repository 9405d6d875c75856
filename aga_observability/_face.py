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
from typing import Any

logger = logging.getLogger("aga_observability")

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
