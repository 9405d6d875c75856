"""Local log output: JSON or text lines to stderr and/or a size-rotated file.

JSON lines use flat, stable keys (``timestamp``, ``level``, ``event``, ``message``,
``attributes``, ``trace_id``...) that Loki's ``json`` stage and Elasticsearch ingest
without a custom parser. Text lines escape what could end a line or drive a terminal
(:func:`escape_text`), so a value from an event can never forge a line of its own
(CWE-117); JSON escapes by its own rules. This exporter writes with plain file I/O, never through Python
``logging``, so no handler of ours can ever feed a record back into the pipeline.
"""

from __future__ import annotations

import json
import math
import os
import re
import threading
from collections.abc import Callable, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import IO

from aga_otel.exporters.reporting import ExportReporter
from aga_otel.logs._sdk import (
    LogRecordExporter,
    LogRecordExportResult,
    ReadableLogRecord,
    SeverityNumber,
)
from aga_otel.status import StatusBoard

COMPONENT = "logs.file"


_SECONDS: dict[int, str] = {}  # whole second → its ISO text (records of a batch share a few)
_SEV_VALUE = {s: s.value for s in SeverityNumber}  # Enum.value is a property: slow per record
# What json.dumps(line, ensure_ascii=False, separators=(",", ":"), default=str) builds per call.
_LINE = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), default=str)


def _iso(ns: int | None) -> str | None:
    """``datetime.fromtimestamp(ns / 1e9, utc)`` as ``%Y-%m-%dT%H:%M:%S.%fZ``, the
    microseconds rounded from the same float as ``datetime`` does (half to even), the
    seconds' text computed once per second."""
    if not ns:
        return None
    t = ns / 1e9
    frac, whole = math.modf(t)
    us = round(frac * 1e6)
    if us >= 1_000_000:
        whole, us = whole + 1, us - 1_000_000
    elif us < 0:
        whole, us = whole - 1, us + 1_000_000
    second = int(whole)
    text = _SECONDS.get(second)
    if text is None:
        if len(_SECONDS) >= 64:
            _SECONDS.clear()
        dt = datetime.fromtimestamp(second, tz=timezone.utc)
        text = _SECONDS[second] = dt.strftime("%Y-%m-%dT%H:%M:%S")
    return f"{text}.{us:06d}Z"


def to_dict(readable: ReadableLogRecord) -> dict:
    """The JSON-line form of one record."""
    r = readable.log_record
    sev = r.severity_number
    out = {
        "timestamp": _iso(r.timestamp or r.observed_timestamp),
        "level": r.severity_text,
        "severity_number": _SEV_VALUE.get(sev, sev.value) if sev else None,
        "event": r.event_name,
        "message": r.body,
        "service.name": _service_name(readable.resource),
        "attributes": dict(r.attributes or {}),
    }
    if r.trace_id:
        out["trace_id"] = f"{r.trace_id:032x}"
        out["span_id"] = f"{r.span_id:016x}"
    return out


_last_resource: tuple = (None, None)  # (resource, its service.name), read and set whole


def _service_name(resource) -> object:
    global _last_resource
    last = _last_resource
    if last[0] is not resource:  # another pipeline's resource (a second stack), or the first
        last = _last_resource = (resource, resource.attributes.get("service.name"))
    return last[1]


def format_json(readable: ReadableLogRecord) -> str:
    return _LINE.encode(to_dict(readable))


# What a text line must not carry raw: C0 controls (LF, CR, NUL, ESC, tab...), DEL, C1
# controls (NEL among them), the Unicode line and paragraph separators, the bidirectional
# overrides and isolates (they reorder what a terminal shows), and the backslash that
# starts every escape, so each escape reads back one way.
_UNSAFE = re.compile(r"[\\\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
_NAMED = {"\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape(match: re.Match) -> str:
    c = match.group()
    named = _NAMED.get(c)
    if named is not None:
        return named
    return f"\\x{ord(c):02x}" if ord(c) < 0x100 else f"\\u{ord(c):04x}"


def escape_text(value: object) -> str:
    r"""``value`` as text safe inside one line: ``\\`` for a backslash, ``\n``, ``\r``,
    ``\t``, ``\xNN`` for the other controls up to U+009F, ``\uNNNN`` for U+2028, U+2029 and
    the bidirectional controls; everything else as is. These are Python's escapes, so
    ``codecs.decode(text, "unicode_escape")`` gives ASCII text back exactly."""
    text = value if isinstance(value, str) else str(value)
    return text if _UNSAFE.search(text) is None else _UNSAFE.sub(_escape, text)


def format_text(readable: ReadableLogRecord) -> str:
    """One record as ``timestamp level event message key=value...``, every part escaped."""
    d = to_dict(readable)
    pairs = " ".join(f"{escape_text(k)}={escape_text(v)}" for k, v in d["attributes"].items())
    head = f"{d['timestamp']} {escape_text(d['level']):<5} {escape_text(d['event'])}"
    return f"{head} {escape_text(d['message'])} {pairs}".rstrip()


class RotatingLineWriter:
    """Appends lines to ``path``; past ``max_bytes`` it rotates ``path`` → ``path.1`` ...

    Same naming as ``logging.handlers.RotatingFileHandler`` (``backup_count`` 0 means
    truncate instead of keeping backups), so logrotate-style tooling recognises it.
    """

    def __init__(self, path: str | os.PathLike, max_bytes: int, backup_count: int) -> None:
        self.path = Path(path)
        self.max_bytes, self.backup_count = max_bytes, backup_count
        self._file: IO[str] | None = None

    def write(self, text: str) -> None:
        if self._file is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            # Kept open across batches; closed on rotation, failure and shutdown.
            self._file = open(self.path, "a", encoding="utf-8", errors="backslashreplace")  # noqa: SIM115
        self._file.write(text)
        self._file.flush()
        if self._file.tell() >= self.max_bytes:
            self._rotate()

    def _rotate(self) -> None:
        self.close()
        if self.backup_count <= 0:
            self.path.write_bytes(b"")
            return
        for i in range(self.backup_count - 1, 0, -1):
            src = self.path.with_name(f"{self.path.name}.{i}")
            if src.exists():
                os.replace(src, self.path.with_name(f"{self.path.name}.{i + 1}"))
        os.replace(self.path, self.path.with_name(f"{self.path.name}.1"))

    def close(self) -> None:
        if self._file is not None:
            f, self._file = self._file, None
            f.close()


class LocalLogExporter(LogRecordExporter):
    """Writes batches of records as lines to a rotating file and/or a stream."""

    def __init__(
        self,
        status: StatusBoard,
        fmt: str | Callable[[ReadableLogRecord], str] = "json",
        path: str | None = None,
        max_bytes: int = 100 * 1024 * 1024,
        backup_count: int = 5,
        stream: IO[str] | None = None,
    ) -> None:
        self.status = status
        # ``fmt``: "json", "text", or a callable record -> line (aga_observability's 1.0 lines)
        self.format = fmt if callable(fmt) else format_json if fmt == "json" else format_text
        self.file = RotatingLineWriter(path, max_bytes, backup_count) if path else None
        self.stream = stream
        self.reporter = ExportReporter(status, COMPONENT, "local log output", str(path or "stderr"))
        self._lock = threading.Lock()
        self._pid = os.getpid()

    def export(self, batch: Sequence[ReadableLogRecord]) -> LogRecordExportResult:
        text = "".join(self.format(r) + "\n" for r in batch)
        with self._lock:
            try:
                if self.file is not None:
                    self.file.write(text)
                if self.stream is not None:
                    self.stream.write(text)
                    self.stream.flush()
            except Exception as exc:
                self.reporter.failed_with(len(batch), f"{type(exc).__name__}: {exc}")
                if self.file is not None:
                    self.file.close()  # reopen on the next batch
                return LogRecordExportResult.FAILURE
        self.reporter.succeeded(len(batch))
        return LogRecordExportResult.SUCCESS

    def shutdown(self) -> None:
        if os.getpid() != self._pid:  # inherited over fork(): the file is the parent's
            return  # (closing would flush bytes buffered before the fork a second time)
        with self._lock:
            if self.file is not None:
                self.file.close()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True
