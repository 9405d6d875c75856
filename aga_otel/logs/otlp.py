"""The OTLP log exporter (gRPC or HTTP) built from the config, with status reporting."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from aga_otel.config import ObservabilityConfig
from aga_otel.logs._sdk import LogRecordExporter, LogRecordExportResult, ReadableLogRecord
from aga_otel.status import StatusBoard

logger = logging.getLogger(__name__)

COMPONENT = "logs.otlp"


def logs_endpoint(config: ObservabilityConfig) -> str | None:
    """The URL records are sent to, or None when OTLP logs are off.

    ``otlp_logs_enabled=None`` means on iff an endpoint is configured. For HTTP the
    generic endpoint gets ``/v1/logs`` appended; a per-signal endpoint is used as given
    (https://opentelemetry.io/docs/specs/otel/protocol/exporter/#endpoint-urls-for-otlphttp).
    """
    base = config.otlp_logs_endpoint or config.otlp_endpoint
    enabled = config.otlp_logs_enabled if config.otlp_logs_enabled is not None else bool(base)
    if not enabled:
        return None
    if base is None:
        base = (
            "http://localhost:4317" if config.otlp_protocol == "grpc" else "http://localhost:4318"
        )
    if config.otlp_protocol == "grpc" or config.otlp_logs_endpoint:
        return base
    return base.rstrip("/") + "/v1/logs"


def build_otlp_exporter(config: ObservabilityConfig, endpoint: str) -> LogRecordExporter:
    """An OTLP log exporter for ``endpoint`` honouring headers, timeout, TLS, compression."""
    compression = None if config.otlp_compression in (None, "none") else config.otlp_compression
    if config.otlp_protocol == "grpc":
        import grpc
        from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter

        credentials = None
        if config.otlp_certificate or config.otlp_client_certificate:
            credentials = grpc.ssl_channel_credentials(
                root_certificates=_read(config.otlp_certificate),
                private_key=_read(config.otlp_client_key),
                certificate_chain=_read(config.otlp_client_certificate),
            )
        grpc_compression = {"gzip": grpc.Compression.Gzip,
                            "deflate": grpc.Compression.Deflate}.get(compression)  # fmt: skip
        return OTLPLogExporter(
            endpoint=endpoint,
            insecure=config.otlp_insecure,
            credentials=credentials,
            headers=dict(config.otlp_headers),
            timeout=config.otlp_timeout,
            compression=grpc_compression,
        )
    from opentelemetry.exporter.otlp.proto.http import Compression
    from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter

    return OTLPLogExporter(
        endpoint=endpoint,
        certificate_file=config.otlp_certificate,
        client_key_file=config.otlp_client_key,
        client_certificate_file=config.otlp_client_certificate,
        headers=dict(config.otlp_headers),
        timeout=config.otlp_timeout,
        compression=Compression(compression) if compression else None,
    )


def _read(path: str | None) -> bytes | None:
    if not path:
        return None
    with open(path, "rb") as f:
        return f.read()


class StatusReportingExporter(LogRecordExporter):
    """Wraps an exporter: reports each outcome to the StatusBoard, never raises."""

    def __init__(self, inner: LogRecordExporter, status: StatusBoard, endpoint: str) -> None:
        self.inner, self.status, self.endpoint = inner, status, endpoint
        self.exported = self.failed = 0
        self._failing = False
        status.register(COMPONENT, endpoint)

    def export(self, batch: Sequence[ReadableLogRecord]) -> LogRecordExportResult:
        try:
            result = self.inner.export(batch)
            error = None if result == LogRecordExportResult.SUCCESS else "export rejected"
        except Exception as exc:
            result, error = LogRecordExportResult.FAILURE, f"{type(exc).__name__}: {exc}"
        if error is None:
            self.exported += len(batch)
            if self._failing:
                self._failing = False
                logger.warning("OTLP log export to %s recovered", self.endpoint)
            self.status.success(COMPONENT, self.endpoint)
        else:
            self.failed += len(batch)
            self.status.failure(COMPONENT, f"OTLP log export to {self.endpoint} failed: {error}")
            if not self._failing:
                self._failing = True
                logger.error(
                    "OTLP log export to %s failed (%s); records are dropped until it recovers",
                    self.endpoint,
                    error,
                )
        return result

    def shutdown(self) -> None:
        try:
            self.inner.shutdown()
        except Exception as exc:
            logger.debug("OTLP log exporter shutdown failed: %r", exc)

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True
