"""The span exporter wrapper that puts every export outcome on the status board."""

from __future__ import annotations

from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from aga_otel.exporters.reporting import ExportReporter, ReportingExporter
from aga_otel.status import StatusBoard

COMPONENT = "traces.otlp"


def StatusReportingSpanExporter(  # noqa: N802 - reads as the class it builds
    inner: SpanExporter, status: StatusBoard, endpoint: str
) -> ReportingExporter:
    """Wraps a span exporter: each outcome goes to the status board (``traces.otlp``)."""
    reporter = ExportReporter(status, COMPONENT, "OTLP span export", endpoint)
    return ReportingExporter(inner, reporter, SpanExportResult.SUCCESS, SpanExportResult.FAILURE)
