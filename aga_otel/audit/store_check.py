"""Is this file an audit store? Checked before a command reads or prunes it.

Without the check a missing path would be created as a new empty store, and any other
file (a YAML config, a log) would read as a store with no entries: ``[]`` and exit 0.
"""

from __future__ import annotations

import json
import os
import sqlite3
from pathlib import Path

from aga_otel.audit.jsonl import JsonlAuditStore


class NotAnAuditStore(ValueError):
    """The path does not hold an audit store (missing, or some other kind of file)."""


def require_store(backend: str, path: str | os.PathLike) -> None:
    """Raise :class:`NotAnAuditStore` unless ``path`` holds a ``backend`` store.

    Backends other than the file-based ones (e.g. a database URL) are left to the store.
    """
    if backend == "sqlite":
        _require_sqlite(Path(path))
    elif backend == "file":
        _require_jsonl(Path(path))


def _require_sqlite(path: Path) -> None:
    if not path.exists():
        raise NotAnAuditStore(f"no audit store at {path}: no such file")
    try:
        conn = sqlite3.connect(path.resolve().as_uri() + "?mode=ro", uri=True)
        try:
            row = conn.execute(
                "SELECT 1 FROM sqlite_master WHERE type='table' AND name='audit_log'"
            ).fetchone()
        finally:
            conn.close()
    except sqlite3.Error as exc:
        raise NotAnAuditStore(f"{path} cannot be read as SQLite: {exc}") from None
    if row is None:
        raise NotAnAuditStore(f"{path} is a SQLite database without an audit_log table")


def _require_jsonl(path: Path) -> None:
    segments = JsonlAuditStore(path, read_only=True).segments()
    if not segments:
        raise NotAnAuditStore(f"no audit store at {path}: no such file")
    with open(segments[0], "rb") as f:
        head = [f.readline(65536) for _ in range(5)]
    lines = [line for line in head if line.strip()]
    torn_first = len(lines) == 1 and not lines[0].endswith(b"\n") and lines[0][:2] == b'{"'
    if not lines or torn_first:
        return  # empty, or a torn first write: the store itself reports that
    if not any(_is_entry(line) for line in lines):  # one damaged line is verify's business
        raise NotAnAuditStore(
            f"{path} is not an audit store: neither SQLite nor audit JSON lines "
            "(its first lines are not audit entries)"
        )


def _is_entry(line: bytes) -> bool:
    try:
        entry = json.loads(line)
    except ValueError:
        return False
    return isinstance(entry, dict) and "seq" in entry and "hash" in entry
