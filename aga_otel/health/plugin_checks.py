"""Checks of the bound aga-core plugin, through its documented introspection surface only.

Each check takes the plugin getter, so a plugin bound (or rebound) after the health monitor
was built is picked up. With no plugin bound a check reports healthy and ``skipped`` with
"plugin not bound": an unbound plugin is a normal state of the pipeline, not a failure.
An attribute that this aga-core version does not have is skipped the same way; a call that
raises or hangs is unhealthy (the runner handles both).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

from aga_otel.health.result import CheckResult

__all__ = ["STORE_DEGRADED", "STORE_UNHEALTHY", "plugin_checks"]

STORE_DEGRADED = 0.95  # utilisation above this: degraded (evictions are imminent)
STORE_UNHEALTHY = 1.0  # utilisation at or above this: unhealthy (store full)

PluginGetter = Callable[[], object | None]
_MISSING = object()


def plugin_checks(get_plugin: PluginGetter) -> dict[str, Callable[[], CheckResult]]:
    """The plugin checks, by name, each bound to ``get_plugin``."""
    table = {
        "plugin.knowledge_store": check_store,
        "plugin.gate": check_gate,
        "plugin.retriever": check_retriever,
        "plugin.event_bus": check_event_bus,
        "plugin.attachment": check_attachment,
    }
    return {name: _bound(get_plugin, fn) for name, fn in table.items()}


def _bound(get_plugin: PluginGetter, fn: Callable[[Any], CheckResult]) -> Callable[[], CheckResult]:
    def check() -> CheckResult:
        plugin = get_plugin()
        if plugin is None:
            return CheckResult.skip("plugin not bound")
        return fn(plugin)

    return check


def _unsupported(what: str) -> CheckResult:
    return CheckResult.skip(f"{what} not provided by this aga-core version")


def _stats(obj: Any, method: str, label: str) -> Mapping | CheckResult:
    """``obj.method()`` as a mapping, or the CheckResult that says why there is none."""
    fn = getattr(obj, method, None)
    if fn is None:
        return _unsupported(f"{label}()")
    stats = fn()
    if not isinstance(stats, Mapping):
        return CheckResult.degraded(f"{label}() returned no mapping")
    return stats


def check_store(plugin: Any) -> CheckResult:
    """Knowledge store utilisation: > 0.95 degraded, >= 1.0 unhealthy."""
    stats = _stats(plugin, "get_store_stats", "get_store_stats")
    if isinstance(stats, CheckResult):
        return stats
    count, max_slots = stats.get("count"), stats.get("max_slots")
    util = stats.get("utilization")
    if util is None and isinstance(count, int) and isinstance(max_slots, int) and max_slots:
        util = count / max_slots
    data = {
        k: stats.get(k)
        for k in (
            "count",
            "max_slots",
            "free_slots",
            "pinned_count",
            "evictable_count",
            "vram_bytes",
        )
    }
    try:
        util = float(util)
    except (TypeError, ValueError):
        return CheckResult.degraded("knowledge store utilisation unknown", **data)
    data["utilization"] = util
    if not math.isfinite(util):
        return CheckResult.unhealthy("knowledge store utilisation is not a number", **data)
    if util >= STORE_UNHEALTHY:
        return CheckResult.unhealthy(f"knowledge store full ({util:.0%})", **data)
    if util > STORE_DEGRADED:
        return CheckResult.degraded(f"knowledge store nearly full ({util:.0%})", **data)
    return CheckResult.healthy(f"knowledge store {util:.0%} used", **data)


def check_gate(plugin: Any) -> CheckResult:
    """Gate parameters must be free of NaN and Inf (torch tensor API: isnan/isinf)."""
    gate = getattr(plugin, "gate_system", _MISSING)
    if gate is _MISSING or gate is None or not hasattr(gate, "parameters"):
        return _unsupported("gate_system.parameters()")
    tensors = nan = inf = 0
    for tensor in gate.parameters():
        tensors += 1
        nan += bool(tensor.isnan().any())
        inf += bool(tensor.isinf().any())
    data = {"parameters": tensors, "with_nan": nan, "with_inf": inf}
    if nan or inf:
        return CheckResult.unhealthy(
            f"gate parameters not finite ({nan} with NaN, {inf} with Inf)", **data
        )
    return CheckResult.healthy(f"{tensors} gate parameter tensors finite", **data)


def check_retriever(plugin: Any) -> CheckResult:
    """The retriever answers ``get_stats()``; its numeric stats are reported."""
    retriever = getattr(plugin, "retriever", _MISSING)
    if retriever is _MISSING:
        return _unsupported("retriever")
    if retriever is None:
        return CheckResult.skip("no retriever configured")
    stats = _stats(retriever, "get_stats", "retriever.get_stats")
    if isinstance(stats, CheckResult):
        return stats
    return CheckResult.healthy(f"retriever {str(stats.get('type', 'unknown'))[:32]}", **stats)


def check_event_bus(plugin: Any) -> CheckResult:
    """Event bus buffer usage; a disabled bus is degraded (no telemetry is produced).

    The bus buffer is a ring: a full buffer overwrites its oldest entries by design, so
    its usage is reported, not judged.
    """
    bus = getattr(plugin, "event_bus", None)
    if bus is None:
        return _unsupported("event_bus")
    stats = _stats(bus, "get_stats", "event_bus.get_stats")
    if isinstance(stats, CheckResult):
        return stats
    size, cap = stats.get("buffer_size"), stats.get("buffer_capacity")
    data: dict[str, Any] = {
        k: stats.get(k)
        for k in ("buffer_size", "buffer_capacity", "total_emitted", "total_consumed")
    }
    subs = stats.get("subscribers")
    if isinstance(subs, Mapping):
        data["subscribers"] = sum(v for v in subs.values() if isinstance(v, int))
    if isinstance(size, (int, float)) and isinstance(cap, (int, float)) and cap > 0:
        data["buffer_usage"] = size / cap
    if getattr(bus, "enabled", True) is False:
        return CheckResult.degraded("event bus disabled: no events reach the pipeline", **data)
    return CheckResult.healthy("event bus enabled", **data)


def check_attachment(plugin: Any) -> CheckResult:
    """The plugin is attached to a model with hooks installed; otherwise degraded."""
    attached = getattr(plugin, "is_attached", _MISSING)
    if attached is _MISSING:
        return _unsupported("is_attached")
    hooks = getattr(plugin, "_hooks", None)
    data: dict[str, Any] = {"attached": bool(attached)}
    if hooks is not None:
        data["hooks"] = len(hooks)
    if not attached:
        return CheckResult.degraded("plugin not attached to a model", **data)
    if hooks is not None and len(hooks) == 0:
        return CheckResult.degraded("plugin attached but no hooks installed", **data)
    return CheckResult.healthy(f"attached with {data.get('hooks', 'unknown')} hooks", **data)
