"""aga-observability 1.0's module functions, served by aga-otel's process-wide stack.

``setup_observability(event_bus, aga_config=None)`` is what aga-core 4.4 calls at the end
of ``AGAPlugin.__init__``. It maps ``aga_config`` with 1.0's defaults (port 9090, 1.0 rule
semantics; an ``AGAConfig``'s own fields win), starts at most one aga-otel stack per
process (``aga_otel.integration``), never raises, and returns the 1.0 face of that stack
(or ``None`` when observability stayed off).
"""

from __future__ import annotations

from typing import Any

from aga_otel import integration as _integration
from aga_otel.integration import bind_plugin, shutdown_observability

__all__ = ["bind_plugin", "get_global_stack", "setup_observability", "shutdown_observability"]

_faces: dict[int, Any] = {}  # id(aga-otel stack) -> its 1.0 face


def _config(aga_config: Any) -> Any:
    from aga_observability.config import ObservabilityConfig

    return _integration.to_observability_config(aga_config, ObservabilityConfig)


def _face(stack: Any) -> Any:
    if stack is None:
        return None
    face = _faces.get(id(stack))
    if face is None or face._stack is not stack:
        from aga_observability.stack import ObservabilityStack

        _faces.clear()  # one global stack per process: older faces are stale
        face = _faces[id(stack)] = ObservabilityStack._wrap(stack)
    return face


def setup_observability(event_bus: Any, aga_config: Any = None, **kwargs: Any) -> Any:
    """Start (once per process) observability for ``event_bus``; the stack's 1.0 face."""
    try:
        config = _config(aga_config)
    except Exception as exc:  # never raise into AGAPlugin.__init__
        _integration.logger.error("aga-otel: observability stayed off: %s", exc)
        return None
    try:
        return _face(_integration.setup_observability(event_bus, config, **kwargs))
    except Exception as exc:
        _integration.logger.error("aga-otel: observability stayed off: %s", exc)
        return None


def get_global_stack() -> Any:
    """The process-wide stack's 1.0 face, or None."""
    return _face(_integration.get_global_stack())
