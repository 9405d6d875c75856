"""Finding the aga-core plugin that owns an event bus (for ``setup_observability``).

When ``setup_observability`` is called from inside ``AGAPlugin.__init__``, the plugin is
the caller's ``self``: found by looking a few frames up (O(1), no heap scan) and bound
through a weak proxy. :func:`discover_plugin` finds the owner of a bus from anywhere, at
the cost of a heap scan.
"""

from __future__ import annotations

import gc
import inspect
import logging
import sys
import weakref
from typing import Any

logger = logging.getLogger("aga_otel.integration")

# How many caller frames to look through for the plugin's ``self``: aga-core calls us
# directly from __init__, a subclass's __init__ may add one or two levels.
_DISCOVERY_FRAMES = 4


def _owns_bus(obj: Any, bus: Any) -> bool:
    """True if ``obj`` looks like the AGAPlugin owning ``bus``.

    ``inspect.getattr_static`` reads attributes without running properties or
    ``__getattr__``, so probing arbitrary objects has no side effects.
    """
    if isinstance(obj, (type, dict)) or inspect.ismodule(obj) or inspect.isframe(obj):
        return False
    try:
        if inspect.getattr_static(obj, "event_bus", None) is not bus:
            return False
        return callable(inspect.getattr_static(obj, "get_store_stats", None))
    except Exception:
        return False


def _weak(plugin: Any) -> Any:
    """A weak proxy to ``plugin`` (gauges fail open once it is gone); None if unsupported."""
    try:
        return weakref.proxy(plugin)
    except TypeError:
        return None


def _plugin_from_callers(bus: Any) -> Any:
    """The caller's ``self`` if it owns ``bus`` (the aga-core call site), weakly; else None."""
    try:
        frame = sys._getframe(2)  # skip this function and setup_observability
    except (AttributeError, ValueError):
        return None
    try:
        for _ in range(_DISCOVERY_FRAMES):
            if frame is None:
                return None
            candidate = frame.f_locals.get("self")
            if candidate is not None and _owns_bus(candidate, bus):
                return _weak(candidate)
            frame = frame.f_back
        return None
    finally:
        del frame  # frames hold their locals: do not keep them alive


def discover_plugin(bus: Any) -> Any:
    """Find the one object that owns ``bus`` (``event_bus is bus`` and ``get_store_stats``).

    Scans the objects referring to the bus with ``gc.get_referrers`` (a walk over every
    GC-tracked object: tens of milliseconds in a large process, so call it once, never on
    a hot path). Returns None if no object, or more than one, matches.
    """
    try:
        referrers = gc.get_referrers(bus)
        # An instance's attributes may live in a __dict__, which is then what refers to
        # the bus; its owner is one more step away. One more walk covers all such dicts.
        dicts = [r for r in referrers if isinstance(r, dict)]
        candidates = referrers + (gc.get_referrers(*dicts) if dicts else [])
        found: list[Any] = []
        for obj in candidates:
            if _owns_bus(obj, bus) and not any(obj is f for f in found):
                found.append(obj)
        del referrers, dicts, candidates
        return found[0] if len(found) == 1 else None
    except Exception as exc:
        logger.debug("aga-otel: plugin discovery failed: %s", exc)
        return None
