"""aga-observability 1.0's audit stores, faces over aga-otel's hash-chained audit trail.

Entries go through aga-otel's ``AuditWriter`` (batched: written when ``batch_size`` wait,
every ``flush_interval`` seconds and at ``shutdown()``) into aga-otel's JSONL or SQLite
store, chained by SHA-256. ``query`` returns 1.0's entry shape, newest first:
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
        self.store_batch([entry])

    def store_batch(self, entries: Iterable[dict[str, Any]]) -> None:
        from aga_otel.audit.chain import make_record

        writer = self._ready_writer()
        for e in entries:
            ts = e.get("timestamp")
            writer.submit(make_record(
                ts if isinstance(ts, (int, float)) else time.time(), e.get("operation", ""),
                e.get("success", True), e.get("error"), e.get("details") or {},
            ))  # fmt: skip

    def query(
        self, operation: str | None = None, since: float | None = None, limit: int = 100
    ) -> list[dict[str, Any]]:
        rows = self._ready_writer().store.query(operation=operation, since=since, limit=limit)
        return [self._entry(r) for r in rows]

    def _entry(self, row: dict[str, Any]) -> dict[str, Any]:
        return {k: row[k] for k in ("timestamp", "operation", "details", "success", "error")}

    def cleanup(self, retention_days: int) -> int:
        """Remove entries older than ``retention_days``; returns how many."""
        writer = self._ready_writer()
        writer.flush()
        return writer.store.prune(time.time() - retention_days * 86400)

    def flush(self) -> bool:
        """Write the buffered entries now."""
        return self._ready_writer().flush()

    def _counts(self) -> dict[str, Any]:
        w = self._writer
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
        total = self._writer.store.count() if self._writer is not None else 0
        return {**self._counts(), "total_records": total}
