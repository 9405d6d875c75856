"""The log pipeline: contract events → OpenTelemetry log records → exporters + audit trail.

Every ``aga.audit`` record, whatever the level or ``log_enabled``, is queued to the audit
writer and stored hash-chained, exactly as its log record carries it (operation, outcome,
error, the canonical details text, the record's nanosecond timestamp). Records at or above
``log_level`` go to one SDK ``LoggerProvider`` (never installed globally) with a batch
processor per output: OTLP export (gRPC or HTTP), local JSON/text lines (stderr and/or a
rotating file). The pipeline hands each record to those processors itself, as the SDK's
``Logger.emit`` would, but builds the SDK record without re-validating attributes it built
valid (:func:`aga_otel.logs._sdk.writable`; the SDK's cleaning runs when
``OTEL_ATTRIBUTE_*_LIMIT`` variables could change a record). Per rare event that is a few
µs instead of ~20 (issue 22).

With an application's ``LoggerProvider`` (``AgaInstrumentor(logger_provider=...)``) every
record at or above ``log_level`` is also emitted on a logger of that provider (scope
``aga_otel.logs``), which exports it with the application's resource and processors; aga-otel
then builds no OTLP log exporter of its own (no record is exported twice), and its own
provider keeps the audit trail and the local lines. The application's provider is never
flushed or shut down from here: the application owns its schedule and its end.

The level filter runs first in :meth:`LogPipeline.handle_batch`: below ``log_level`` (or
with no log output configured) a non-audit event is skipped before any record is built.
A retrieval that injected facts also becomes an ``inject`` row of the audit trail, whatever
the level (:mod:`aga_otel.audit.injections`, docs/knowledge-attribution.md).
"""

from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.sdk.resources import Resource

from aga_otel._version import __version__
from aga_otel.audit import AuditStore, AuditWriter, build_audit_store, injections
from aga_otel.audit.chain import AuditRecord
from aga_otel.config import ObservabilityConfig
from aga_otel.exporters.reporting import ReportingExporter, run_bounded
from aga_otel.logs import records as rec
from aga_otel.logs._sdk import (
    BatchLogRecordProcessor,
    CopyableLogRecord,
    Logger,
    LoggerProvider,
    LogRecord,
    LogRecordLimits,
    ReadWriteLogRecord,
    SeverityNumber,
    default_limits,
    make_record,
    span_fields,
    writable,
)
from aga_otel.logs.local import LocalLogExporter
from aga_otel.logs.otlp import StatusReportingExporter, build_otlp_exporter, logs_endpoint
from aga_otel.redaction import redact_text, redact_url
from aga_otel.semconv import (
    A_MODEL_TYPE,
    ALERT_ATTR_PREFIX,
    EVENT_ALERT,
    EVENT_AUDIT,
    EVENT_FORWARD,
    EVENT_RETRIEVAL,
)
from aga_otel.status import StatusBoard

logger = logging.getLogger(__name__)

# The API falls back to the *current* context when given an empty one, and on the worker
# thread that is never the emitter's span; a context holding the invalid span prevents it.
_NO_SPAN = trace.set_span_in_context(trace.INVALID_SPAN, Context())
_EXPORT_QUEUE = 8192  # records waiting per exporter before the batch processor drops
_SEVERITY = {s.value: s for s in SeverityNumber}  # one lookup, not an Enum call per record
_NO_SPAN_FIELDS = span_fields(_NO_SPAN)
_MOST_ATTRIBUTES = 32  # more than any record of ours carries (forward 8, retrieval 11, audit 9)
SCOPE_NAME = "aga_otel.logs"
APP_COMPONENT = "logs.app"  # status of the records handed to an application's provider


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
        app_provider: Any = None,
        model: Callable[[], str | None] = lambda: None,
    ) -> None:
        self.config = config
        self.model = model  # the bound plugin's model_type, or None
        self.status = status
        self.min_severity = rec.LEVEL_SEVERITY[config.log_level.upper()]
        self.redact_keys = tuple(config.audit_redact_keys)
        self.max_detail_bytes = config.audit_max_detail_bytes
        self.max_documents = config.knowledge_max_documents
        self.ids_enabled = config.knowledge_ids_enabled
        self.instance = resource.attributes.get("service.instance.id")
        self.alert_severity = rec.LEVEL_SEVERITY.get(config.alert_log_level.upper(), rec.WARN)
        self._limits = LogRecordLimits()  # from the OTEL_ATTRIBUTE_* variables, as the SDK's
        self.logger_provider = LoggerProvider(
            resource=resource, shutdown_on_exit=False, log_record_limits=self._limits
        )
        self._batches: list = []  # one batch processor per output of ours
        self.audit_store = audit_store
        self.audit_writer = AuditWriter(
            audit_store,
            status,
            config.audit_batch_size,
            config.audit_flush_interval,
            config.audit_retention_days,
        )
        self.otlp: ReportingExporter | None = None
        self.local: LocalLogExporter | None = None
        # The application's provider exports records instead of an OTLP exporter of ours.
        self._app_logger = None
        if config.log_enabled and app_provider is not None:
            self._app_logger = app_provider.get_logger(SCOPE_NAME, __version__)
        if config.log_enabled:
            self._add_exporters(stream if stream is not None else sys.stderr)
        # No output configured → nothing but audit events is worth building.
        self.logs_on = any(o is not None for o in (self.otlp, self.local, self._app_logger))
        self._logger = self.logger_provider.get_logger(SCOPE_NAME, __version__)
        # A disabled SDK (OTEL_SDK_DISABLED) gives a no-op logger: no record of ours is built.
        self._exporting = bool(self._batches) and isinstance(self._logger, Logger)
        self._trusted = default_limits(self._limits, _MOST_ATTRIBUTES)
        # The audit trail keeps each record's details as parsed back from its canonical text
        # (keys sorted) where a store hands the dicts back (memory); the others store the text.
        self._reparse = audit_store.keeps_details
        self.emitted = self.filtered = self.malformed = self.errors = 0
        self.app_emitted = self.app_errors = 0  # records handed to the application's provider
        self._shut = False
        self.audit_writer.start()

    def _add_exporters(self, stream: Any) -> None:
        c = self.config
        endpoint = logs_endpoint(c)
        if endpoint is not None and self._app_logger is None:
            try:
                self.otlp = StatusReportingExporter(
                    build_otlp_exporter(c, endpoint), self.status, endpoint
                )
                self._add(self.otlp)
            except Exception as exc:  # e.g. unreadable TLS files: degrade, keep the rest
                error = redact_text(str(exc))
                logger.error(
                    "OTLP log exporter for %s not started: %s", redact_url(endpoint), error
                )
                self.status.failure("logs.otlp", f"not started: {error}")
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
        self.logger_provider.add_log_record_processor(batch)  # for its flush and shutdown
        self._batches.append(batch)

    # --- EventSink ---------------------------------------------------------------------------
    def handle_forward(self, events: Sequence) -> None:
        """The forward lane: DEBUG records, skipped in one step unless DEBUG is on."""
        if not self.logs_on or self.min_severity > rec.DEBUG:
            self.filtered += len(events)
            return
        self.handle_batch(events)

    def handle_batch(self, events: Sequence) -> None:
        """Build and emit a record per event that passes the level filter; never raises."""
        logs_on, min_sev = self.logs_on, self.min_severity
        for event in events:
            try:
                etype = getattr(event, "type", None)
                if etype == EVENT_RETRIEVAL:
                    self._record_injection(event)
                if etype != EVENT_AUDIT:
                    # Decided from the type alone, before anything is built.
                    sev = rec.DEBUG if etype == EVENT_FORWARD else rec.INFO
                    if not logs_on or sev < min_sev:
                        self.filtered += 1
                        continue
                else:
                    sev = rec.severity_of(etype, getattr(event, "data", None))
                self._emit(rec.build(event, sev, self.redact_keys, self.max_detail_bytes,
                                     self.max_documents, self.ids_enabled,
                                     self.config.max_layers))  # fmt: skip
            except Exception as exc:
                self.errors += 1
                if self.errors == 1:
                    logger.exception("aga-otel log pipeline could not map an event: %r", exc)

    def _record_injection(self, event: Any) -> None:
        """A retrieval that injected facts becomes an ``inject`` row of the audit trail,
        whatever the log level (docs/knowledge-attribution.md)."""
        record = injections.inject_record(event, self.max_documents, self.ids_enabled,
                                          self.redact_keys, self.max_detail_bytes,
                                          self.instance)  # fmt: skip
        if record is not None:
            self.audit_writer.submit(record)

    def _emit(self, spec: rec.RecordSpec) -> None:
        if spec.malformed:
            self.malformed += 1
        model = self.model()
        if model is not None:
            spec.attributes[A_MODEL_TYPE] = model
        sc = spec.span_context
        valid = isinstance(sc, trace.SpanContext) and sc.is_valid  # the documented side hook
        observed = time.time_ns()
        if spec.audit is not None:
            self.audit_writer.submit(self._stored(spec, observed))
        app = self._app_logger
        # Our provider: always without an application's, else the audit trail and local lines.
        if app is None or self.local is not None or spec.audit is not None:
            self.emitted += 1
            if self._exporting and spec.severity >= self.min_severity:
                self._export(spec, sc if valid else None, observed)
        if app is not None and spec.severity >= self.min_severity:
            context = _NO_SPAN
            if valid:
                context = trace.set_span_in_context(trace.NonRecordingSpan(sc), Context())
            # A record of its own: the SDK wraps (and processors may change) what it is given.
            try:
                app.emit(_record(spec, context, observed))
                self.app_emitted += 1
            except Exception as exc:  # the application's processors: ours are done already
                self._app_failed(exc)

    def _stored(self, spec: rec.RecordSpec, observed_ns: int) -> AuditRecord:
        """The audit row of an audit record: its fields as the log record carries them."""
        a = spec.audit
        ts = spec.timestamp_ns or observed_ns  # the record's time, in whole nanoseconds
        details = json.loads(a.details_json) if self._reparse else a.details
        return AuditRecord(ts / 1e9, a.operation, a.success, a.error, details, a.details_json,
                           a.source)  # fmt: skip

    def _export(self, spec: rec.RecordSpec, sc: trace.SpanContext | None, observed: int) -> None:
        """Hand one record to our outputs' batch processors, as ``Logger.emit`` would."""
        logger = self._logger
        attrs = spec.attributes
        if sc is None:
            context, fields = _NO_SPAN, _NO_SPAN_FIELDS
        else:
            context = trace.set_span_in_context(trace.NonRecordingSpan(sc), Context())
            fields = (sc.trace_id, sc.span_id, sc.trace_flags)
        if self._trusted and len(attrs) <= _MOST_ATTRIBUTES:
            # What the SDK's attribute cleaning makes of our values: lists become tuples.
            attrs = {k: tuple(v) if type(v) is list else v for k, v in attrs.items()}
            record = make_record({
                "timestamp": spec.timestamp_ns or None, "observed_timestamp": observed,
                "context": context, "trace_id": fields[0], "span_id": fields[1],
                "trace_flags": fields[2], "severity_text": spec.severity_text,
                "severity_number": _SEVERITY[spec.severity], "body": spec.body,
                "attributes": attrs, "event_name": spec.event_name, "exception": None,
            })  # fmt: skip
            rw = writable(record, logger.resource, logger.instrumentation_scope, self._limits)
        else:  # limits that may cut or drop attributes: the SDK's own record and cleaning
            rw = ReadWriteLogRecord(
                _record(spec, context, observed),
                logger.resource,
                logger.instrumentation_scope,
                self._limits,
            )
        for batch in self._batches:
            batch.on_emit(rw)

    def _app_failed(self, exc: Exception) -> None:
        self.app_errors += 1
        if self.app_errors == 1:
            reason = redact_text(f"{type(exc).__name__}: {exc}")
            logger.error("aga-otel: the application's LoggerProvider refused a record: %s", reason)
            self.status.failure(APP_COMPONENT, f"emit failed: {reason}")

    def record_alert(self, alert: Any) -> None:
        """An alert transition (firing or resolved) → one ``aga.alert`` log record.

        Registered with ``AlertManager.add_callback`` by the stack that owns both, so each
        stack's alerts reach its own pipeline once (never through a process-wide logger).
        """
        attrs = {
            f"{ALERT_ATTR_PREFIX}{name}": value
            for name, value in (
                ("rule", alert.rule_name),
                ("state", alert.state.value),
                ("severity", alert.severity),
                ("metric", alert.metric),
                ("value", alert.value),
                ("threshold", alert.threshold),
            )
            if isinstance(value, (str, int, float, bool))
        }
        self._emit(rec.RecordSpec(
            event_name=EVENT_ALERT,
            severity=self.alert_severity,
            timestamp_ns=int(alert.timestamp * 1e9),
            body=f"alert {alert.rule_name} {alert.state.value} [{alert.severity}]: "
                 f"{alert.message}",
            attributes=attrs,
        ))  # fmt: skip

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

    def retire_inherited(self, timeout: float) -> None:
        """In a forked child, drop this pipeline inherited from the parent: stop the batch
        threads the SDK restarted in the child, writing, exporting and closing nothing
        (the audit backlog, connections and files are the parent's; see ``shutdown``
        guards in the writer and exporters). A later ``shutdown()`` does nothing."""
        self._shut = True
        run_bounded(self.logger_provider.shutdown, timeout, "log-exporters")

    @property
    def dropped(self) -> dict[str, int]:
        """Accepted audit records the writer could not store, by reason: the bridge adds them
        to its ``dropped`` counts (``aga_otel_events_dropped_total``, the demo's summary)."""
        return dict(self.audit_writer.lost)

    def stats(self) -> dict:
        out: dict[str, Any] = {
            "records_emitted": self.emitted,
            "app_records_emitted": self.app_emitted,
            "app_errors": self.app_errors,
            "filtered": self.filtered,
            "malformed": self.malformed,
            "errors": self.errors,
            "audit": self.audit_writer.stats(),
        }
        for key, exp in (("otlp", self.otlp), ("local", self.local)):
            if exp is not None:
                out[key] = {"exported": exp.reporter.exported, "failed": exp.reporter.failed}
        return out


def _record(spec: rec.RecordSpec, context: Context, observed_ns: int) -> LogRecord:
    return CopyableLogRecord(
        timestamp=spec.timestamp_ns or None, observed_timestamp=observed_ns, context=context,
        severity_number=_SEVERITY[spec.severity], severity_text=spec.severity_text,
        body=spec.body, attributes=dict(spec.attributes), event_name=spec.event_name,
    )  # fmt: skip


def build_log_pipeline(
    config: ObservabilityConfig,
    status: StatusBoard,
    resource: Resource,
    stream: Any = None,
    *,
    app_provider: Any = None,
    model: Callable[[], str | None] = lambda: None,
) -> LogPipeline:
    """The factory ``ObservabilityStack.start()`` calls; never raises for I/O problems.

    The audit store is always created (``memory``/``file``/``sqlite``/``postgresql``);
    opening is lazy, so an unwritable path or an unreachable database shows up as a
    degraded ``audit`` status, not an exception. ``stream`` replaces ``sys.stderr`` for
    ``log_stderr`` output (tests). ``app_provider``: an application's ``LoggerProvider``
    (see the module docstring); ``model``: the bound plugin's ``model_type`` (or None),
    put on every record as ``aga.model.type``.
    """
    store = build_audit_store(config, resource)
    return LogPipeline(config, status, resource, store, stream, app_provider, model)
