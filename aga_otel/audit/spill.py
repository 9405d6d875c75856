"""A bounded on-disk spill: audit records held while a remote store is unreachable.

One file per spill, JSON lines: a header ``{"spill": <random id>}`` then one line per
record. Records are read back oldest first; a reader acknowledges what it stored with
:meth:`Spill.consume` and the file is removed once everything was consumed. The file's id
and a record's line number (``position``) let the remote store remember, in the same
transaction as the rows, how far it replayed, so a crash between the commit and the
acknowledgement never stores a record twice.

A file left by a crash is picked up on the next open (a torn last line is cut off and
logged). The size is bounded by ``max_bytes``; what does not fit is counted in
``overflowed`` and refused.

A writing spill holds an exclusive ``flock`` on ``<file>.lock`` for the rest of its
process's life (the kernel releases it when the process dies, however it dies), so another
process can tell a live spill from the orphan of an exited one (:func:`orphans`).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import time
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path

try:
    import fcntl
except ImportError:  # not POSIX: no locks, so no adoption of orphaned spills either
    fcntl = None  # type: ignore[assignment]

from aga_otel.audit.chain import AuditRecord

logger = logging.getLogger(__name__)


def _line(rec: AuditRecord) -> bytes:
    fields = [rec.timestamp, rec.operation, rec.success, rec.error, rec.details_json, rec.source]
    return (json.dumps(fields, ensure_ascii=True, separators=(",", ":")) + "\n").encode("ascii")


def _record(line: bytes) -> AuditRecord:
    try:
        ts, op, ok, err, details_json, source = json.loads(line)
        return AuditRecord(ts, op, ok, err, json.loads(details_json), details_json, source)
    except (ValueError, TypeError):
        # A damaged line (disk corruption) still takes its place in the chain, saying so,
        # so the loss is on the record and the lines after it replay.
        logger.error("audit spill: unreadable line replaced by a spill_corrupt entry")
        return AuditRecord(time.time(), "aga_otel.spill_corrupt", False,
                           "unreadable audit spill line", {}, "{}", "aga-otel")  # fmt: skip


def _try_lock(path: Path) -> int | None:
    """A file descriptor holding an exclusive lock on ``path``; None when it is taken."""
    if fcntl is None:
        return None
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        return None
    return fd


def orphans(directory: Path, own: Path) -> Iterator[Path]:
    """Spill files in ``directory`` whose writing process is gone, each locked while the
    caller handles it (the lock file is removed once the spill file is)."""
    if fcntl is None or not directory.is_dir():
        return
    for lock in directory.glob("*.lock"):  # locks of exited processes whose spill drained
        if lock != own.with_suffix(".lock") and not lock.with_suffix(".jsonl").exists():
            fd = _try_lock(lock)
            if fd is not None:
                lock.unlink(missing_ok=True)
                os.close(fd)
    for path in sorted(directory.glob("*.jsonl")):
        if path == own:
            continue
        lock = path.with_suffix(".lock")
        fd = _try_lock(lock)
        if fd is None:
            continue  # its process is alive and owns it
        try:
            if path.exists():
                yield path
            if not path.exists():
                lock.unlink(missing_ok=True)
        finally:
            os.close(fd)


class Spill:
    """Records appended and replayed in order; not thread-safe (the store's lock guards it)."""

    def __init__(self, path: str | os.PathLike, max_bytes: int) -> None:
        self.path = Path(path)
        self.max_bytes = max_bytes
        self.overflowed = 0
        self.id: str | None = None  # the current file's id; None when there is no file
        self._size = 0
        self._count = 0  # record lines in the file
        self._read_pos = 0  # byte offset of the first record not yet consumed
        self._read_line = 0  # its line number (0 = first record line)
        self._loaded = False
        self._lock_fd: int | None = None

    # --- state ------------------------------------------------------------------------
    @property
    def pending(self) -> int:
        """Records waiting to be replayed."""
        self._load()
        return self._count - self._read_line

    @property
    def size(self) -> int:
        self._load()
        return self._size

    @property
    def known(self) -> tuple[int, int]:
        """(pending records, bytes) as known so far, without touching the disk: safe to
        read from another thread while the owner writes (the figures may be a batch old)."""
        return self._count - self._read_line, self._size

    def _load(self) -> None:
        if self._loaded:
            return
        self._loaded = True
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            return
        end = data.rfind(b"\n") + 1
        if end < len(data):  # a torn last line from a crash: it was never acknowledged
            logger.warning("audit spill %s: dropping a torn last line", self.path)
            with open(self.path, "r+b") as f:
                f.truncate(end)
        lines = data[:end].splitlines(keepends=True)
        try:
            self.id = json.loads(lines[0])["spill"]
        except (IndexError, ValueError, KeyError, TypeError):
            logger.error("audit spill %s has no valid header; moving it aside", self.path)
            self.path.replace(self.path.with_suffix(".corrupt"))
            return
        self._size, self._count = end, len(lines) - 1
        self._read_pos = len(lines[0])

    # --- writing ----------------------------------------------------------------------
    def add(self, records: Sequence[AuditRecord]) -> int:
        """Append what fits in ``max_bytes``; returns how many records were kept."""
        self._load()
        header = b""
        if self.id is None:
            self.id = uuid.uuid4().hex
            header = (json.dumps({"spill": self.id}) + "\n").encode("ascii")
        out, size, kept = [header], self._size + len(header), 0
        for rec in records:
            line = _line(rec)
            if size + len(line) > self.max_bytes:
                break
            out.append(line)
            size += len(line)
            kept += 1
        self.overflowed += len(records) - kept
        if kept or header:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            if self._lock_fd is None:  # mine until this process exits
                self._lock_fd = _try_lock(self.path.with_suffix(".lock"))
            try:
                with open(self.path, "ab") as f:
                    f.write(b"".join(out))
                    f.flush()
                    os.fsync(f.fileno())
            except OSError:  # a full disk: cut a partial write off so every line stays whole
                with contextlib.suppress(OSError):
                    os.truncate(self.path, self._size)
                if header:
                    self.id = None
                raise
            if header:
                self._read_pos = len(header)
            self._size, self._count = size, self._count + kept
        return kept

    # --- replaying --------------------------------------------------------------------
    def peek(self, limit: int) -> tuple[list[AuditRecord], int, int]:
        """Up to ``limit`` records from the oldest unconsumed one.

        Returns ``(records, first_position, end_offset)``; pass the last two to
        :meth:`consume` once the records are stored.
        """
        if not self.pending:
            return [], self._read_line, self._read_pos
        with open(self.path, "rb") as f:
            f.seek(self._read_pos)
            lines = [f.readline() for _ in range(min(limit, self.pending))]
        return (
            [_record(line) for line in lines],
            self._read_line,
            self._read_pos + sum(map(len, lines)),
        )

    def consume(self, count: int, end_offset: int) -> None:
        """Mark ``count`` records (ending at ``end_offset``) stored; remove a drained file."""
        self._read_line += count
        self._read_pos = end_offset
        if self._read_line >= self._count:
            self.path.unlink(missing_ok=True)
            self.id, self._size, self._count = None, 0, 0
            self._read_pos = self._read_line = 0
