"""Log-record processors: the audit trail and the severity gate in front of exporters."""

from __future__ import annotations

import json
import logging

from aga_otel.audit.chain import AuditRecord
from aga_otel.audit.writer import AuditWriter
from aga_otel.logs import records as rec
from aga_otel.logs._sdk import LogRecordProcessor, ReadWriteLogRecord

logger = logging.getLogger(__name__)


class AuditLogRecordProcessor(LogRecordProcessor):
    """Persists every ``aga.audit`` record through an :class:`AuditWriter`.

    It sits on the LoggerProvider like any processor, so the audit trail sees exactly the
    records that were emitted, redacted and sanitised as exported; it only queues (the
    writer thread does the I/O).
    """

    def __init__(self, writer: AuditWriter) -> None:
        self.writer = writer
        self.malformed = 0

    def on_emit(self, log_record: ReadWriteLogRecord) -> None:
        r = log_record.log_record
        if r.event_name != rec.AUDIT_EVENT_NAME:
            return
        try:
            a = r.attributes
            text = a[rec.A_DETAILS]
            record = AuditRecord(
                timestamp=(r.timestamp or r.observed_timestamp) / 1e9,
                operation=a[rec.A_OPERATION],
                success=a[rec.A_SUCCESS] is True,
                error=a.get(rec.A_ERROR),
                details=json.loads(text),
                details_json=text,
                source=a.get(rec.A_SOURCE, "aga-core"),
            )
        except Exception as exc:  # only records not built by aga_otel.logs.records
            self.malformed += 1
            logger.debug("audit processor skipped a record without audit fields: %r", exc)
            return
        self.writer.submit(record)

    def shutdown(self) -> None:
        """Nothing: the writer's owner (the log pipeline) shuts it down, once, within its
        deadline and before the exporters; the provider's shutdown must not repeat it."""

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return self.writer.flush()


class SeverityGate(LogRecordProcessor):
    """Passes records at or above ``min_severity`` to ``inner``; drops the rest.

    Non-audit records below the level never get built at all (the pipeline checks first);
    this gate only keeps audit records, which are always built for the trail, out of the
    exporters when the configured level is above them.
    """

    def __init__(self, inner: LogRecordProcessor, min_severity: int) -> None:
        self.inner, self.min_severity = inner, min_severity

    def on_emit(self, log_record: ReadWriteLogRecord) -> None:
        sev = log_record.log_record.severity_number
        if sev is not None and sev.value >= self.min_severity:
            self.inner.on_emit(log_record)

    def enabled(self, *, severity_number=None, **_kw) -> bool:
        return severity_number is None or severity_number.value >= self.min_severity

    def shutdown(self) -> None:
        self.inner.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return self.inner.force_flush(timeout_millis)
