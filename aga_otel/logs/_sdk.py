"""The one module that imports OpenTelemetry's unstable logs namespaces.

``opentelemetry.sdk._logs`` (and the API's ``opentelemetry._logs``) are still marked
experimental and their names changed between releases (``LogExporter`` became
``LogRecordExporter`` in 1.3x). Everything else in aga-otel imports them from here, so a
rename is a one-file change. Verified against opentelemetry-sdk 1.45.
"""

from __future__ import annotations

from opentelemetry._logs import LogRecord, SeverityNumber, get_logger_provider
from opentelemetry.sdk._logs import (
    LoggerProvider,
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


__all__ = [
    "BatchLogRecordProcessor",
    "CopyableLogRecord",
    "InMemoryLogRecordExporter",
    "LogRecord",
    "LogRecordExportResult",
    "LogRecordExporter",
    "LogRecordProcessor",
    "LoggerProvider",
    "ReadWriteLogRecord",
    "ReadableLogRecord",
    "SeverityNumber",
    "get_logger_provider",
]
