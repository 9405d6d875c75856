"""The metrics pipeline of one stack: its private provider, shared reader and recorder.

The recorder's aggregations are the shared reader's producers, the readers passed to the
stack (``metric_readers=``) are fed from them too, and an application's ``MeterProvider``
gets them through :mod:`aga_otel.metrics.app_provider` (or, where that cannot be, a
per-event recorder that the bridge must also feed: ``MetricsParts.sinks``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from opentelemetry.sdk.metrics import AlwaysOffExemplarFilter, MeterProvider
from opentelemetry.sdk.metrics.export import MetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.util.instrumentation import InstrumentationScope

from aga_otel import semconv as sc
from aga_otel._version import __version__
from aga_otel.config import ObservabilityConfig
from aga_otel.metrics.app_provider import app_metrics_meter, app_metrics_sink, feed_readers
from aga_otel.metrics.reader import SharedMetricReader
from aga_otel.metrics.recorder import MetricsRecorder


@dataclass
class MetricsParts:
    provider: MeterProvider
    meter: Any
    reader: SharedMetricReader
    recorder: MetricsRecorder
    sinks: list  # the recorder, and the application provider's per-event mirror if any
    app_meter: Any  # aga-otel's meter on the application's provider (None without one)


def build_metrics(
    cfg: ObservabilityConfig,
    resource: Resource,
    extra_readers: Sequence[MetricReader] = (),
    app_provider: Any = None,
) -> MetricsParts:
    reader = SharedMetricReader()
    # Exemplars (forward durations, with tracing on) come from the forward aggregation,
    # which keeps them per consumer; the SDK's own reservoirs would be drained by
    # whichever consumer collects first, so the SDK samples none (and the machine's env
    # must not switch them on silently).
    provider = MeterProvider(
        resource=resource,
        metric_readers=[reader, *extra_readers],
        exemplar_filter=AlwaysOffExemplarFilter(),
    )
    meter = provider.get_meter(sc.METER_NAME, __version__)
    recorder = MetricsRecorder(
        meter,
        cfg.per_layer_attributes,
        cfg.max_layers,
        exemplars=cfg.tracing_enabled,
        buckets=cfg.histogram_buckets,
    )
    scope = InstrumentationScope(sc.METER_NAME, __version__)
    for producer in recorder.producers:
        reader.add_producer(producer, resource, scope)
    if extra_readers:  # they see the aggregations' metrics too
        feed_readers(provider, meter, recorder, list(extra_readers))
    sinks: list = [recorder]
    app_meter = app_metrics_meter(app_provider)
    if app_meter is not None:  # the application's provider: fed by the aggregations
        mirror = app_metrics_sink(app_provider, app_meter, recorder)
        if mirror is not None:  # or, where it cannot be, per event (logged)
            sinks.append(mirror)
    return MetricsParts(provider, meter, reader, recorder, sinks, app_meter)
