"""aga-observability 1.0's audit stores, faces over aga-otel's hash-chained audit trail.

Entries go through aga-otel's ``AuditWriter`` into aga-otel's JSONL or SQLite store,
chained by SHA-256. Reads see your writes, as in 1.0: ``store_batch()`` has written its
entries when it returns; ``store()`` entries wait for the batch (written when
``batch_size`` wait, every ``flush_interval`` seconds and at ``shutdown()``), and
``query()``, ``get_stats()`` and ``cleanup()`` first write what waits, including the events
of a subscribed bus emitted before the call. (The stack's own audit lane, fed by the bus,
keeps its batching; only these reads flush it.) ``query`` returns 1.0's entry shape, newest
first:
``{timestamp, operation, details, success, error}``, plus ``id`` (the chain's sequence
number) and ``created_at`` (UTC ``YYYY-MM-DD HH:MM:SS``) for SQLite. The stored schema is
aga-otel's (``seq``, ``prev_hash``, ``hash`` ...), not 1.0's table; see docs/migration.md.
"""

from __future__ import annotations

import os
import time
from abc import ABC, abstractmethod
from collections.abc import Iterable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from aga_observability._face import Face

__all__ = ["AuditStorageBackend", "FileAuditStorage", "SQLiteAuditStorage"]

_KEEP_FOREVER_DAYS = 1e6


class AuditStorageBackend(ABC):
    """1.0's audit storage interface."""

    @abstractmethod
    def store(self, entry: dict[str, Any]) -> None: ...

    @abstractmethod
    def store_batch(self, entries: list[dict[str, Any]]) -> None: ...

    @abstractmethod
    def query(
        self, operation: str | None = None, since: float | None = None, limit: int = 100
    ) -> list[dict[str, Any]]: ...

    @abstractmethod
    def cleanup(self, retention_days: int) -> int: ...

    @abstractmethod
    def shutdown(self) -> None: ...


class _AuditFace(Face, AuditStorageBackend):
    backend = ""

    def __init__(self, path: str, flush_interval: float, batch_size: int) -> None:
        super().__init__()
        self.path = str(path)
        self.flush_interval, self.batch_size = flush_interval, batch_size
        self._writer: Any = None

    def _standalone_config(self) -> dict[str, Any]:
        return {
            "audit_storage_backend": self.backend, "audit_storage_path": self.path,
            "audit_flush_interval": self.flush_interval, "audit_batch_size": self.batch_size,
            # 1.0 stores kept everything until cleanup(retention_days) was called.
            "audit_retention_days": _KEEP_FOREVER_DAYS,
        }  # fmt: skip

    def _on_attach(self, stack: Any) -> None:
        self._writer = stack.log_exporter.audit_writer if stack.log_exporter else None

    def _ready_writer(self) -> Any:
        self._ensure_stack()
        if self._writer is None:
            raise RuntimeError("the audit trail could not start (see the aga_otel log)")
        return self._writer

    # --- 1.0 methods ---------------------------------------------------------------------
    def store(self, entry: dict[str, Any]) -> None:
        """Queue one entry; it is written with the next batch (and before any read)."""
        self._submit([entry])

    def store_batch(self, entries: Iterable[dict[str, Any]]) -> bool:
        """Write ``entries`` (and whatever waits) before returning, as 1.0 did.

        True when written. False when the store is failing (unwritable path, full disk):
        the entries then wait in memory and are retried, the ``audit`` component is degraded
        and the aga_otel log says why, once.
        """
        writer = self._submit(entries)
        return writer.flush()

    def _submit(self, entries: Iterable[dict[str, Any]]) -> Any:
        from aga_otel.audit.chain import make_record

        writer = self._ready_writer()
        cfg = self._stack.config  # the same redaction and size limit as aga-core's events
        for e in entries:
            ts = e.get("timestamp")
            writer.submit(make_record(
                ts if isinstance(ts, (int, float)) else time.time(), e.get("operation", ""),
                e.get("success", True), e.get("error"), e.get("details") or {},
                cfg.audit_redact_keys, cfg.audit_max_detail_bytes,
            ))  # fmt: skip
        return writer

    def _written(self) -> Any:
        """The writer, once everything stored or emitted before the call is written."""
        writer = self._ready_writer()
        self._catch_up()  # the bus's audit events reach the writer
        writer.flush()
        return writer

    def query(
        self, operation: str | None = None, since: float | None = None, limit: int = 100
    ) -> list[dict[str, Any]]:
        """1.0's entries, newest first, including everything stored before the call."""
        rows = self._written().store.query(operation=operation, since=since, limit=limit)
        return [self._entry(r) for r in rows]

    def _entry(self, row: dict[str, Any]) -> dict[str, Any]:
        return {k: row[k] for k in ("timestamp", "operation", "details", "success", "error")}

    def cleanup(self, retention_days: int) -> int:
        """Remove entries older than ``retention_days``; returns how many."""
        return self._written().store.prune(time.time() - retention_days * 86400)

    def flush(self) -> bool:
        """Write the buffered entries now."""
        return self._ready_writer().flush()

    def _counts(self) -> dict[str, Any]:
        w = self._written() if self._writer is not None else None  # None: not started
        stats = w.stats() if w is not None else {"written": 0, "backlog": 0}
        return {
            "path": self.path,
            "total_written": stats["written"],
            "buffer_size": stats["backlog"],
        }


class FileAuditStorage(_AuditFace):
    """Audit entries as JSON lines (aga-otel's JSONL store, with rotated segments)."""

    backend = "file"

    def __init__(
        self,
        path: str = "aga_audit.jsonl",
        flush_interval: float = 10,
        batch_size: int = 100,
        max_file_size: int = 100 * 1024 * 1024,
        max_files: int = 10,
    ) -> None:
        super().__init__(path, flush_interval, batch_size)
        self.max_file_size, self.max_files = max_file_size, max_files

    def _on_attach(self, stack: Any) -> None:
        super()._on_attach(stack)
        if self._own and self._writer is not None:  # aga-otel rotates at max_bytes
            self._writer.store.max_bytes = self.max_file_size

    def get_stats(self) -> dict[str, Any]:
        exists = os.path.exists(self.path)
        return {
            **self._counts(),
            "file_exists": exists,
            "file_size": Path(self.path).stat().st_size if exists else 0,
        }


class SQLiteAuditStorage(_AuditFace):
    """Audit entries in SQLite (aga-otel's indexed, hash-chained store)."""

    backend = "sqlite"

    def __init__(
        self, path: str = "aga_audit.db", flush_interval: float = 10, batch_size: int = 100
    ):
        super().__init__(path, flush_interval, batch_size)

    def _entry(self, row: dict[str, Any]) -> dict[str, Any]:
        created = datetime.fromtimestamp(row["timestamp"], tz=timezone.utc)
        return {
            "id": row["seq"],
            **super()._entry(row),
            "created_at": created.strftime("%Y-%m-%d %H:%M:%S"),
        }

    def get_stats(self) -> dict[str, Any]:
        counts = self._counts()  # writes what waits first
        total = self._writer.store.count() if self._writer is not None else 0
        return {**counts, "total_records": total}
