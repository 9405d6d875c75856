"""The OTLP log exporter (gRPC or HTTP) built from the config, with status reporting."""

from __future__ import annotations

from aga_otel.config import ObservabilityConfig
from aga_otel.exporters.otlp import create_log_exporter, signal_enabled, signal_endpoint
from aga_otel.exporters.reporting import ExportReporter, ReportingExporter
from aga_otel.logs._sdk import LogRecordExporter, LogRecordExportResult
from aga_otel.status import StatusBoard

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


def StatusReportingExporter(  # noqa: N802 - reads as the class it builds
    inner: LogRecordExporter, status: StatusBoard, endpoint: str
) -> ReportingExporter:
    """Wraps a log exporter: each outcome goes to the status board (``logs.otlp``)."""
    reporter = ExportReporter(status, COMPONENT, "OTLP log export", endpoint)
    return ReportingExporter(
        inner, reporter, LogRecordExportResult.SUCCESS, LogRecordExportResult.FAILURE
    )
