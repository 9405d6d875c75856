"""The two extension points of the pipeline.

- An ``EventSink`` receives batches of contract events on the bridge's worker thread (never
  on the emitting thread). The metrics recorder, the log-record emitter and the audit trail
  are sinks.
- A ``MetricsConsumer`` receives the shared reader's snapshots (cumulative ``MetricsData``)
  on its own schedule. OTLP/console exporters, the alert engine and the health monitor are
  consumers; they share one ``MetricReader`` instead of each adding one, because every
  reader costs a full aggregation per measurement.
- A ``MetricProducer`` hands the shared reader metrics aggregated outside the SDK (the
  forward events' bulk aggregation); they are merged into every snapshot.

A sink may also define ``handle_forward(events)``: the bridge then hands it the forward
lane's batches there (forward events only, the bulk of the traffic) and everything else
through ``handle_batch``; a sink without it gets forward events in ``handle_batch`` too.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable

from opentelemetry.sdk.metrics.export import Metric, MetricsData


@runtime_checkable
class EventSink(Protocol):
    name: str

    def handle_batch(self, events: Sequence) -> None:
        """Process contract ``Event`` objects; called on the worker thread; must not raise."""

    def shutdown(self, timeout: float) -> None:
        """Flush and release resources within ``timeout`` seconds."""


@runtime_checkable
class MetricsConsumer(Protocol):
    name: str
    interval: float  # seconds between snapshots
    # Optional ``exemplars = True``: a snapshot of its own carrying the exemplars recorded
    # since its previous one (exporters). Without it the consumer shares a recent snapshot
    # with the other in-process consumers. Optional ``evaluate_now() -> bool``: called
    # instead, on the same schedule; True when the consumer read its inputs itself (alerts,
    # health), False to be handed a snapshot after all.

    def consume(self, metrics: MetricsData) -> None:
        """Handle one cumulative snapshot; called on the consumer's own thread."""

    def shutdown(self, timeout: float) -> None:
        """Final export/flush within ``timeout`` seconds."""


@runtime_checkable
class MetricProducer(Protocol):
    """Data aggregated outside the SDK, produced as OTel metrics at collection (the
    specification's MetricProducer; :mod:`aga_otel.metrics.feed`)."""

    def produce(self, exemplars_since_ns: int | None = 0, cursor: Any = None) -> list[Metric]:
        """Cumulative metrics now, or with ``cursor`` the deltas since that cursor's previous
        call; exemplars recorded after the given time (None: none)."""

    def open_cursor(self) -> Any:
        """A delta reader's cursor (see :mod:`aga_otel.metrics.histogram`)."""
