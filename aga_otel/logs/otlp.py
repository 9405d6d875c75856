"""The OTLP log exporter (gRPC or HTTP) built from the config, with status reporting."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from aga_otel.config import ObservabilityConfig
from aga_otel.exporters.otlp import create_log_exporter, signal_enabled, signal_endpoint
from aga_otel.exporters.reporting import ExportReporter
from aga_otel.logs._sdk import LogRecordExporter, LogRecordExportResult, ReadableLogRecord
from aga_otel.status import StatusBoard

logger = logging.getLogger(__name__)

COMPONENT = "logs.otlp"


def logs_endpoint(config: ObservabilityConfig) -> str | None:
    """Where records go (for messages), or None when OTLP logs are off.

    Endpoint rules and exporter construction are shared with metrics and traces in
    :mod:`aga_otel.exporters.otlp`; an enabled signal without an endpoint uses the OTel
    exporter's own default (``OTEL_EXPORTER_OTLP_*`` or localhost).
    """
    if not signal_enabled(config, "logs"):
        return None
    return signal_endpoint(config, "logs") or "default OTLP endpoint"


def build_otlp_exporter(config: ObservabilityConfig, endpoint: str) -> LogRecordExporter:
    """An OTLP log exporter honouring headers, timeout, TLS and compression."""
    return create_log_exporter(config)


class StatusReportingExporter(LogRecordExporter):
    """Wraps an exporter: reports each outcome to the StatusBoard, never raises."""

    def __init__(self, inner: LogRecordExporter, status: StatusBoard, endpoint: str) -> None:
        self.inner = inner
        self.reporter = ExportReporter(status, COMPONENT, "log", endpoint)

    @property
    def exported(self) -> int:
        return self.reporter.exported

    @property
    def failed(self) -> int:
        return self.reporter.failed

    def export(self, batch: Sequence[ReadableLogRecord]) -> LogRecordExportResult:
        try:
            result = self.inner.export(batch)
        except Exception as exc:  # exporters should not raise; never trust it
            self.reporter.failed_with(len(batch), f"{type(exc).__name__}: {exc}")
            return LogRecordExportResult.FAILURE
        if result == LogRecordExportResult.SUCCESS:
            self.reporter.succeeded(len(batch))
        else:
            self.reporter.failed_with(len(batch), "export rejected")
        return result

    def shutdown(self) -> None:
        try:
            self.inner.shutdown()
        except Exception as exc:
            logger.debug("OTLP log exporter shutdown failed: %r", exc)

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True
