"""The one module that imports OpenTelemetry's unstable logs namespaces.

``opentelemetry.sdk._logs`` (and the API's ``opentelemetry._logs``) are still marked
experimental and their names changed between releases (``LogExporter`` became
``LogRecordExporter`` in 1.3x). Everything else in aga-otel imports them from here, so a
rename is a one-file change. Verified against opentelemetry-sdk 1.45.
"""

from __future__ import annotations

from typing import Any

from opentelemetry._logs import LogRecord, SeverityNumber, get_logger_provider
from opentelemetry.context import Context
from opentelemetry.sdk._logs import (
    Logger,
    LoggerProvider,
    LogRecordLimits,
    LogRecordProcessor,
    ReadableLogRecord,
    ReadWriteLogRecord,
)
from opentelemetry.sdk._logs.export import (
    BatchLogRecordProcessor,
    InMemoryLogRecordExporter,
    LogRecordExporter,
    LogRecordExportResult,
)


class CopyableLogRecord(LogRecord):
    """The API's ``LogRecord`` with a direct ``__copy__``.

    The SDK's ``BatchLogRecordProcessor.on_emit`` takes ``copy.copy`` of every record (to
    drop its context); for a plain object that goes through ``__reduce_ex__`` and
    ``copyreg``. This is the same shallow copy (a new instance sharing the attribute
    values), made directly.
    """

    def __copy__(self) -> CopyableLogRecord:
        new = object.__new__(type(self))
        new.__dict__.update(self.__dict__)
        return new


# The fields the API's ``LogRecord.__init__`` sets, in its order (SDK 1.45).
RECORD_FIELDS = ("timestamp", "observed_timestamp", "context", "trace_id", "span_id",
                 "trace_flags", "severity_text", "severity_number", "body", "attributes",
                 "event_name", "exception")  # fmt: skip


def span_fields(context: Context) -> tuple:
    """``(trace_id, span_id, trace_flags)`` as ``LogRecord.__init__`` reads them from
    ``context`` (computed once per context by the caller, not once per record)."""
    probe = LogRecord(context=context, observed_timestamp=1)
    return probe.trace_id, probe.span_id, probe.trace_flags


def make_record(fields: dict[str, Any]) -> CopyableLogRecord:
    """A :class:`CopyableLogRecord` equal to ``CopyableLogRecord(**...)`` from ``fields``
    (every name of :data:`RECORD_FIELDS`), without the constructor's per-record lookup of
    the context's span (the caller passes the span fields it computed once)."""
    new = object.__new__(CopyableLogRecord)
    new.__dict__.update(fields)
    return new


def default_limits(limits: LogRecordLimits, most: int) -> bool:
    """True when ``limits`` cannot change a record of at most ``most`` attributes whose
    values are already valid (str, bool, int, float, tuples of those): no length limit,
    room for every attribute. Then :func:`writable` may skip the SDK's cleaning."""
    cap = limits.max_log_record_attributes
    return limits.max_log_record_attribute_length is None and (cap is None or cap >= most)


def writable(record: LogRecord, resource: Any, scope: Any, limits: LogRecordLimits):
    """The ``ReadWriteLogRecord`` a ``Logger`` would hand its processors for ``record``,
    without re-validating attributes the caller built valid (see :func:`default_limits`):
    the SDK's ``__post_init__`` copies them into a ``BoundedAttributes``, which would leave
    every value as it is."""
    new = object.__new__(ReadWriteLogRecord)
    new.__dict__.update(log_record=record, resource=resource, instrumentation_scope=scope,
                        limits=limits)  # fmt: skip
    return new


__all__ = [
    "BatchLogRecordProcessor",
    "CopyableLogRecord",
    "InMemoryLogRecordExporter",
    "LogRecord",
    "LogRecordExportResult",
    "LogRecordLimits",
    "Logger",
    "LogRecordExporter",
    "LogRecordProcessor",
    "LoggerProvider",
    "ReadWriteLogRecord",
    "ReadableLogRecord",
    "SeverityNumber",
    "default_limits",
    "get_logger_provider",
    "make_record",
    "span_fields",
    "writable",
]
