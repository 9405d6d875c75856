"""An application's own ``MeterProvider`` (``AgaInstrumentor(meter_provider=...)``).

The stack's own forward and retrieval/audit aggregations are fed to that provider's readers
at their collections (:mod:`aga_otel.metrics.feed`, the spec's MetricProducer): no event is
recorded twice, so the application's provider costs what aga-otel's own does. The
observable gauges are registered there as SDK instruments. aga-otel's private provider
keeps feeding Prometheus, alerts and health. Where the feed cannot reproduce what the
application's views or readers ask for, every event is recorded through that provider's
SDK instruments on the worker instead (``MetricsRecorder(per_event=True)``), with one
warning. Cost: docs/opentelemetry.md.
"""

from __future__ import annotations

import logging
import weakref
from typing import Any

from aga_otel import semconv as sc
from aga_otel._version import __version__
from aga_otel.metrics.feed import FeedUnsupported, ProducerFeed
from aga_otel.metrics.gauges import register_gauges
from aga_otel.metrics.recorder import MetricsRecorder, create_instrument

logger = logging.getLogger(__name__)

# Our instruments whose data the aggregations produce (the feed matches views on them).
FED_KEYS = ("forward", "forward_duration", "gate_value", "entropy_value", "retrieval",
            "retrieval_results", "retrieval_injected", "audit_operations",
            "retrieval_score")  # fmt: skip

_FEEDS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # provider → ProducerFeed


def app_metrics_meter(provider: Any) -> Any:
    """aga-otel's meter on an application's ``MeterProvider`` (None without one)."""
    return None if provider is None else provider.get_meter(sc.METER_NAME, __version__)


def feed_readers(
    provider: Any, meter: Any, recorder: MetricsRecorder, readers=None
) -> ProducerFeed:
    """Feed ``recorder``'s aggregations to ``provider``'s readers (``readers``: only these),
    sharing one feed per provider and reader set; raises :class:`FeedUnsupported`."""
    key = provider if readers is None else readers[0]
    bounds = {sc.BY_KEY[k].name: tuple(b) for k, b in recorder.bounds.items()}
    feed = _FEEDS.get(key)
    if feed is None:
        instruments = {
            sc.BY_KEY[k].name: create_instrument(
                meter, sc.BY_KEY[k], buckets=recorder.bounds.get(k)
            )
            for k in FED_KEYS
        }
        feed = ProducerFeed(provider, meter, instruments, readers, bounds)
        _FEEDS[key] = feed
    elif feed.bounds != bounds:
        raise FeedUnsupported("another stack on this provider aggregates with other buckets")
    feed.attach(recorder.producers)
    return feed


def app_metrics_sink(provider: Any, meter: Any, recorder: MetricsRecorder) -> Any:
    """Make ``recorder``'s aggregations reach the application's ``provider``.

    Returns None when they are fed to its readers, or else the per-event recorder the
    bridge must also feed (the logged fallback)."""
    try:
        feed_readers(provider, meter, recorder)
        return None
    except FeedUnsupported as exc:
        reason = str(exc)
    logger.warning(
        "aga-otel: AGA's metrics reach the application's MeterProvider by recording every "
        "event through its instruments (about 20 µs of CPU per forward event), because %s",
        reason,
    )
    return MetricsRecorder(meter, recorder.per_layer, recorder.max_layers, per_event=True,
                           buckets=recorder.bounds)  # fmt: skip


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
