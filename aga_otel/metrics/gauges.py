"""Observable instruments: read at collection time, never per event.

Plugin-backed gauges report nothing (no data point, not zero) until a plugin is bound, and
nothing when the plugin's introspection raises or lacks a field: aga-core versions differ,
and a zero would be a lie on a dashboard. Store stats are read once per collection.
"""

from __future__ import annotations

import functools
import gc
import logging
import os
import threading
import time
from collections.abc import Callable
from typing import Any

from opentelemetry.metrics import CallbackOptions, Meter, Observation

from aga_otel import semconv as sc
from aga_otel.mapping import number
from aga_otel.metrics.recorder import ActivationWindow, create_instrument

logger = logging.getLogger(__name__)

PluginRef = Callable[[], Any]
MODEL_MAX_CHARS = 128


class PluginReadings:
    """Reads ``get_store_stats()``/``get_diagnostics()`` at most once per ``ttl`` seconds."""

    def __init__(self, plugin: PluginRef, ttl: float = 0.5, clock=time.monotonic) -> None:
        self._plugin = plugin
        self._ttl = ttl
        self._clock = clock
        self._cache: dict[str, tuple[float, Any]] = {}
        self._cached_for = 0  # id() of the plugin the cache is for (no reference kept)

    def _read(self, method: str) -> dict | None:
        plugin = self._plugin()
        if plugin is None:
            return None
        if id(plugin) != self._cached_for:  # another plugin was bound: nothing cached holds
            self._cache.clear()
            self._cached_for = id(plugin)
        now = self._clock()
        hit = self._cache.get(method)
        if hit is not None and now - hit[0] < self._ttl:
            return hit[1]
        try:
            value = getattr(plugin, method)()
            value = value if isinstance(value, dict) else None
        except Exception as exc:  # fail open: a broken plugin just reports nothing
            logger.debug("plugin.%s() failed: %s", method, exc)
            value = None
        self._cache[method] = (now, value)
        return value

    def store(self, field: str) -> float | None:
        stats = self._read("get_store_stats")
        return None if stats is None else number(stats.get(field))

    def slot_change_rate(self) -> float | None:
        diag = self._read("get_diagnostics")
        gov = diag.get("slot_governance") if diag else None
        return number(gov.get("slot_change_rate")) if isinstance(gov, dict) else None

    def model(self) -> str | None:
        """The bound plugin's ``model_type`` (bounded in length: one value per process)."""
        diag = self._read("get_diagnostics")
        value = diag.get("model_type") if diag else None
        return str(value)[:MODEL_MAX_CHARS] if value not in (None, "") else None

    def build_info(self) -> dict[str, str] | None:
        plugin = self._plugin()
        if plugin is None:
            return None
        cfg = getattr(plugin, "config", None)
        attrs = {"version": _aga_version(plugin)}
        for name in ("hidden_dim", "bottleneck_dim", "max_slots", "device"):
            try:
                attrs[name] = str(getattr(cfg, name))
            except Exception:
                attrs[name] = "unknown"
        return attrs


@functools.lru_cache(maxsize=1)
def _aga_module_version() -> str | None:
    """aga-core's version, looked up once: a failed import walks sys.path (~0.7 ms), and
    this runs on every collection."""
    try:
        import aga  # type: ignore[import-not-found]

        return str(aga.__version__)
    except Exception:
        return None


def _aga_version(plugin: Any) -> str:
    return _aga_module_version() or str(getattr(plugin, "__version__", "unknown"))


def _one(read: Callable[[], float | None]):
    def callback(options: CallbackOptions):
        value = read()
        return [] if value is None else [Observation(value)]

    return callback


def register_gauges(
    meter: Meter,
    plugin: PluginRef,
    activation: ActivationWindow,
    bridge_stats: Callable[[], dict],
) -> PluginReadings:
    """Create every observable instrument of the table that aga-otel owns."""
    readings = PluginReadings(plugin)
    m = sc.BY_KEY

    def build_info(options: CallbackOptions):
        attrs = readings.build_info()
        return [] if attrs is None else [Observation(1, attrs)]

    def model_info(options: CallbackOptions):
        model = readings.model()
        return [] if model is None else [Observation(1, {sc.ATTR_MODEL: model})]

    def received(options: CallbackOptions):
        return [Observation(bridge_stats()["received"])]

    def dropped(options: CallbackOptions):
        counts = bridge_stats()["dropped"]
        return [Observation(counts.get(r, 0), {sc.ATTR_REASON: r}) for r in sc.DROP_REASONS]

    def queue_depth(options: CallbackOptions):
        return [Observation(bridge_stats()["queue_depth"])]

    callbacks = {
        "activation_rate": _one(activation.rate),
        "knowledge_count": _one(lambda: readings.store("count")),
        "knowledge_utilization": _one(lambda: readings.store("utilization")),
        "knowledge_pinned_count": _one(lambda: readings.store("pinned_count")),
        "slot_change_rate": _one(readings.slot_change_rate),
        "build_info": build_info,
        "model_info": model_info,
        "events_received": received,
        "events_dropped": dropped,
        "queue_depth": queue_depth,
    }
    for key, cb in callbacks.items():
        create_instrument(meter, m[key], [cb])
    return readings


# --- process/runtime metrics (config ``process_metrics``) -------------------------------------
def _proc_stat_threads() -> int | None:
    """Threads of this process from /proc (Linux), else None."""
    try:
        with open("/proc/self/stat", "rb") as f:
            fields = f.read().rsplit(b")", 1)[1].split()
        return int(fields[17])  # num_threads: field 20 of stat(5), counted after "(comm)"
    except (OSError, IndexError, ValueError):
        return None


def _proc_rss_bytes() -> int | None:
    """Resident set size from /proc/self/statm (Linux), else None (nothing reported)."""
    try:
        with open("/proc/self/statm", "rb") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, IndexError, ValueError, AttributeError):
        return None


def register_process_metrics(meter: Meter) -> None:
    """The process/runtime instruments of ``semconv.PROCESS_METRICS`` (CPU time by mode,
    RSS, threads, CPython GC collections), each read by its callback at collection only."""

    def cpu(options: CallbackOptions):
        t = os.times()
        return [Observation(t.user, {sc.ATTR_CPU_MODE: "user"}),
                Observation(t.system, {sc.ATTR_CPU_MODE: "system"})]  # fmt: skip

    def memory(options: CallbackOptions):
        rss = _proc_rss_bytes()
        return [] if rss is None else [Observation(rss)]

    def threads(options: CallbackOptions):
        n = _proc_stat_threads()
        return [Observation(threading.active_count() if n is None else n)]

    def collections(options: CallbackOptions):
        return [Observation(g["collections"], {sc.ATTR_GC_GENERATION: i})
                for i, g in enumerate(gc.get_stats())]  # fmt: skip

    callbacks = {"process_cpu_time": cpu, "process_memory_usage": memory,
                 "process_thread_count": threads, "gc_collections": collections}  # fmt: skip
    for spec in sc.PROCESS_METRICS:
        create_instrument(meter, spec, [callbacks[spec.key]])
