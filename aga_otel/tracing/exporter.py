"""The span exporter wrapper that puts every export outcome on the status board."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from aga_otel.exporters.reporting import ExportReporter
from aga_otel.status import StatusBoard

logger = logging.getLogger(__name__)

COMPONENT = "traces.otlp"


class StatusReportingSpanExporter(SpanExporter):
    """Wraps a span exporter: each outcome goes to the status board; never raises."""

    def __init__(self, inner: SpanExporter, status: StatusBoard, endpoint: str) -> None:
        self.inner = inner
        self.reporter = ExportReporter(status, COMPONENT, "span", endpoint)

    @property
    def exported(self) -> int:
        return self.reporter.exported

    @property
    def failed(self) -> int:
        return self.reporter.failed

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        try:
            result = self.inner.export(spans)
        except Exception as exc:  # exporters should not raise; never trust it
            self.reporter.failed_with(len(spans), f"{type(exc).__name__}: {exc}")
            return SpanExportResult.FAILURE
        if result == SpanExportResult.SUCCESS:
            self.reporter.succeeded(len(spans))
        else:
            self.reporter.failed_with(len(spans), "export rejected")
        return result

    def shutdown(self) -> None:
        try:
            self.inner.shutdown()
        except Exception as exc:
            logger.debug("OTLP span exporter shutdown failed: %r", exc)

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True
