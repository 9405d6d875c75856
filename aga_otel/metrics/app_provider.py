"""An application's own ``MeterProvider`` (``AgaInstrumentor(meter_provider=...)``).

AGA's event metrics are recorded there per event on the worker (``MetricsRecorder`` with
``per_event=True``) and the observable gauges are registered there too, while aga-otel's
private provider keeps feeding Prometheus, alerts and health: their snapshots need a
reader, and none can be added to a provider someone else built. Cost: docs/opentelemetry.md.
"""

from __future__ import annotations

import weakref
from typing import Any

from aga_otel import semconv as sc
from aga_otel._version import __version__
from aga_otel.metrics.gauges import register_gauges


def app_metrics_meter(provider: Any) -> Any:
    """aga-otel's meter on an application's ``MeterProvider`` (None without one): AGA's
    event metrics are recorded there per event on the worker, and the observable gauges
    are registered there too; the private provider keeps feeding Prometheus, alerts and
    health (their snapshots need a reader, and none can be added to a built provider)."""
    return None if provider is None else provider.get_meter(sc.METER_NAME, __version__)


class _GaugeSource:
    """What an application provider's observable gauges read: the latest stack built on
    that provider. The SDK keeps the callbacks of an instrument's first registration only,
    so a rebuilt stack (``instrument()`` again, a forked child) moves this instead; a stack
    that is gone leaves its last pipeline counts and no plugin readings."""

    def __init__(self) -> None:
        self._stack: weakref.ref | None = None
        self._activation: Any = None
        self._last_stats: dict = {"received": 0, "dropped": {}, "queue_depth": 0}

    def follow(self, stack: Any, activation: Any) -> None:
        self._stack, self._activation = weakref.ref(stack), activation

    def plugin(self) -> Any:
        stack = self._stack() if self._stack else None
        return None if stack is None else stack.plugin

    def rate(self) -> float | None:
        return None if self._activation is None else self._activation.rate()

    def bridge_stats(self) -> dict:
        stack = self._stack() if self._stack else None
        if stack is not None and stack.bridge is not None:
            self._last_stats = stack.bridge.stats()
        return self._last_stats


_APP_GAUGES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def app_gauges_follow(provider: Any, meter: Any, stack: Any, activation) -> None:
    """Register the observable gauges on ``provider`` once; point them at ``stack``."""
    source = _APP_GAUGES.get(provider)
    if source is None:
        source = _APP_GAUGES[provider] = _GaugeSource()
        register_gauges(meter, source.plugin, source, source.bridge_stats)
    source.follow(stack, activation)
