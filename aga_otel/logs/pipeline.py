"""The log pipeline: contract events → OpenTelemetry log records → exporters + audit trail.

One SDK ``LoggerProvider`` (never installed globally) with, in order:

1. :class:`AuditLogRecordProcessor` — every ``aga.audit`` record, whatever the level or
   ``log_enabled``, queued to the audit writer and stored hash-chained;
2. OTLP export (gRPC or HTTP) behind a :class:`SeverityGate` and a batch processor;
3. local JSON/text lines (stderr and/or a rotating file), likewise gated and batched.

The level filter runs first in :meth:`LogPipeline.handle_batch`: below ``log_level`` (or
with no log output configured) a non-audit event is skipped before any record is built.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Sequence
from typing import Any

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.sdk.resources import Resource

from aga_otel._version import __version__
from aga_otel.audit import AuditStore, AuditWriter, open_store
from aga_otel.config import ObservabilityConfig
from aga_otel.exporters.reporting import ReportingExporter, run_bounded
from aga_otel.logs import records as rec
from aga_otel.logs._sdk import BatchLogRecordProcessor, LoggerProvider, LogRecord, SeverityNumber
from aga_otel.logs.local import LocalLogExporter
from aga_otel.logs.otlp import StatusReportingExporter, build_otlp_exporter, logs_endpoint
from aga_otel.logs.processors import AuditLogRecordProcessor, SeverityGate
from aga_otel.semconv import EVENT_AUDIT, EVENT_FORWARD
from aga_otel.status import StatusBoard

logger = logging.getLogger(__name__)

# The API falls back to the *current* context when given an empty one, and on the worker
# thread that is never the emitter's span; a context holding the invalid span prevents it.
_NO_SPAN = trace.set_span_in_context(trace.INVALID_SPAN, Context())
_EXPORT_QUEUE = 8192  # records waiting per exporter before the batch processor drops


class LogPipeline:
    """An ``EventSink`` turning events into log records (see module docstring)."""

    name = "logs"

    def __init__(
        self,
        config: ObservabilityConfig,
        status: StatusBoard,
        resource: Resource,
        audit_store: AuditStore,
        stream: Any = None,
    ) -> None:
        self.config = config
        self.status = status
        self.min_severity = rec.LEVEL_SEVERITY[config.log_level.upper()]
        self.redact_keys = tuple(config.audit_redact_keys)
        self.max_detail_bytes = config.audit_max_detail_bytes
        self.logger_provider = LoggerProvider(resource=resource, shutdown_on_exit=False)
        self.audit_store = audit_store
        self.audit_writer = AuditWriter(
            audit_store,
            status,
            config.audit_batch_size,
            config.audit_flush_interval,
            config.audit_retention_days,
        )
        self.logger_provider.add_log_record_processor(AuditLogRecordProcessor(self.audit_writer))
        self.otlp: ReportingExporter | None = None
        self.local: LocalLogExporter | None = None
        if config.log_enabled:
            self._add_exporters(stream if stream is not None else sys.stderr)
        # No output configured → nothing but audit events is worth building.
        self.logs_on = self.otlp is not None or self.local is not None
        self._logger = self.logger_provider.get_logger("aga_otel.logs", __version__)
        self.emitted = self.filtered = self.malformed = self.errors = 0
        self._shut = False
        self.audit_writer.start()

    def _add_exporters(self, stream: Any) -> None:
        c = self.config
        endpoint = logs_endpoint(c)
        if endpoint is not None:
            try:
                self.otlp = StatusReportingExporter(
                    build_otlp_exporter(c, endpoint), self.status, endpoint
                )
                self._add(self.otlp)
            except Exception as exc:  # e.g. unreadable TLS files: degrade, keep the rest
                logger.error("OTLP log exporter for %s not started: %s", endpoint, exc)
                self.status.failure("logs.otlp", f"not started: {exc}")
        if c.log_file or c.log_stderr:
            self.local = LocalLogExporter(
                self.status,
                getattr(c, "log_line_formatter", None) or c.log_format,
                c.log_file,
                c.log_max_bytes,
                c.log_backup_count,
                stream if c.log_stderr else None,
            )
            self._add(self.local)

    def _add(self, exporter) -> None:
        batch = BatchLogRecordProcessor(
            exporter, schedule_delay_millis=1000, max_queue_size=_EXPORT_QUEUE
        )
        self.logger_provider.add_log_record_processor(SeverityGate(batch, self.min_severity))

    # --- EventSink ---------------------------------------------------------------------------
    def handle_batch(self, events: Sequence) -> None:
        """Build and emit a record per event that passes the level filter; never raises."""
        logs_on, min_sev = self.logs_on, self.min_severity
        for event in events:
            try:
                etype = getattr(event, "type", None)
                if etype != EVENT_AUDIT:
                    # Decided from the type alone, before anything is built.
                    sev = rec.DEBUG if etype == EVENT_FORWARD else rec.INFO
                    if not logs_on or sev < min_sev:
                        self.filtered += 1
                        continue
                else:
                    sev = rec.severity_of(etype, getattr(event, "data", None))
                self._emit(rec.build(event, sev, self.redact_keys, self.max_detail_bytes))
            except Exception as exc:
                self.errors += 1
                if self.errors == 1:
                    logger.exception("aga-otel log pipeline could not map an event: %r", exc)

    def _emit(self, spec: rec.RecordSpec) -> None:
        if spec.malformed:
            self.malformed += 1
        context = _NO_SPAN
        sc = spec.span_context
        if isinstance(sc, trace.SpanContext) and sc.is_valid:  # the documented side hook
            context = trace.set_span_in_context(trace.NonRecordingSpan(sc), Context())
        self._logger.emit(LogRecord(
            timestamp=spec.timestamp_ns or None, observed_timestamp=time.time_ns(),
            context=context, severity_number=SeverityNumber(spec.severity),
            severity_text=spec.severity_text, body=spec.body, attributes=spec.attributes,
            event_name=spec.event_name,
        ))  # fmt: skip
        self.emitted += 1

    def alert_handler(self) -> logging.Handler:
        """A ``logging.Handler`` that turns the alert engine's lines into ``aga.alert``
        log records (attach it to the ``aga_otel.alerts`` logger, never to the root)."""
        return _AlertRecordHandler(self)

    def flush(self, timeout: float = 5.0) -> bool:
        """Export queued records and write the audit backlog now."""
        ok = self.audit_writer.flush()
        return self.logger_provider.force_flush(int(timeout * 1000)) and ok

    def shutdown(self, timeout: float = 5.0) -> None:
        """Write every accepted audit record, flush exporters, release files (idempotent)."""
        if self._shut:
            return
        self._shut = True
        deadline = time.monotonic() + timeout
        self.audit_writer.shutdown(timeout)
        run_bounded(self.logger_provider.shutdown, deadline - time.monotonic(), "log-exporters")

    def stats(self) -> dict:
        out: dict[str, Any] = {
            "records_emitted": self.emitted,
            "filtered": self.filtered,
            "malformed": self.malformed,
            "errors": self.errors,
            "audit": self.audit_writer.stats(),
        }
        for key, exp in (("otlp", self.otlp), ("local", self.local)):
            if exp is not None:
                out[key] = {"exported": exp.exported, "failed": exp.failed}
        return out


def build_log_pipeline(
    config: ObservabilityConfig, status: StatusBoard, resource: Resource, stream: Any = None
) -> LogPipeline:
    """The factory ``ObservabilityStack.start()`` calls; never raises for I/O problems.

    The audit store is always created (``memory``/``file``/``sqlite``); opening is lazy, so
    an unwritable path shows up as a degraded ``audit`` status, not an exception.
    ``stream`` replaces ``sys.stderr`` for ``log_stderr`` output (tests).
    """
    store = open_store(config.audit_storage_backend, config.audit_storage_path)
    return LogPipeline(config, status, resource, store, stream)


_ALERT_FIELDS = ("alert_rule", "alert_state", "alert_severity", "alert_metric", "alert_value",
                 "alert_threshold")  # fmt: skip


class _AlertRecordHandler(logging.Handler):
    """Alert transitions (lines carrying ``alert_rule``) → OTel log records.

    No feedback loop: the exporters log on their own loggers, never on ``aga_otel.alerts``.
    """

    def __init__(self, pipeline: LogPipeline) -> None:
        super().__init__()
        self.pipeline = pipeline

    def emit(self, record: logging.LogRecord) -> None:
        if not hasattr(record, "alert_rule"):
            return
        try:
            attrs = {
                "aga.alert." + k[len("alert_") :]: getattr(record, k)
                for k in _ALERT_FIELDS
                if isinstance(getattr(record, k, None), (str, int, float, bool))
            }
            self.pipeline._emit(rec.RecordSpec(
                event_name="aga.alert",
                severity=rec.LEVEL_SEVERITY.get(record.levelname, rec.WARN),
                timestamp_ns=int(record.created * 1e9),
                body=record.getMessage(),
                attributes=attrs,
            ))  # fmt: skip
        except Exception:  # a log handler must never raise into the alert engine
            self.handleError(record)
