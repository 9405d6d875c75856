"""JSON-lines audit backend with size rotation, batched writes and crash repair.

Layout for ``path``: the active file ``path``, rotated segments ``path.000001``,
``path.000002``... (oldest first, never renumbered), ``path.head`` (the chain state:
newest entry's sequence number and hash, prune anchor, keying and seal; rewritten
atomically after every batch, so deleting or truncating the newest lines shows),
``path.anchor`` (the prune anchor, for older readers) and ``path.torn`` (bytes of an
incomplete last line cut off on open).
A batch is one ``write`` on an ``O_APPEND`` descriptor; if it fails half-way the file is
truncated back, so the file only ever holds whole lines — except after SIGKILL during
the write, which leaves one torn last line that the next open moves to ``path.torn``.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
from collections.abc import Iterator
from pathlib import Path

from aga_otel.audit.base import AuditStore, matches
from aga_otel.audit.chain import Anchor, VerifyReport
from aga_otel.audit.jsonl_lines import last_entry as _last_entry
from aga_otel.audit.jsonl_lines import line as _line
from aga_otel.audit.jsonl_lines import parse as _parse
from aga_otel.audit.keys import ChainState

logger = logging.getLogger(__name__)

DEFAULT_MAX_BYTES = 64 * 1024 * 1024


class JsonlAuditStore(AuditStore):
    """Audit entries as JSON lines (one entry per line, fit for Loki/ELK shippers)."""

    backend = "file"
    keeps_chain_state = True

    def __init__(
        self,
        path: str | os.PathLike,
        max_bytes: int = DEFAULT_MAX_BYTES,
        read_only: bool = False,
        key: bytes | None = None,
    ) -> None:
        super().__init__(key)
        self.path = Path(path)
        self.max_bytes = max_bytes
        self.read_only = read_only
        self.torn_repaired = 0  # torn last lines cut off on open
        self._fd: int | None = None
        self._opened = False

    # --- files ------------------------------------------------------------------------------
    def segments(self) -> list[Path]:
        """Every data file, oldest first (rotated segments, then the active file)."""
        pattern = re.compile(re.escape(self.path.name) + r"\.(\d{6})$")
        rotated = sorted(
            (p for p in self.path.parent.glob(self.path.name + ".*") if pattern.match(p.name)),
            key=lambda p: p.name,
        )
        return [*rotated, self.path] if self.path.exists() else rotated

    def _sidecar(self, suffix: str) -> Path:
        return Path(f"{self.path}.{suffix}")

    def _anchor(self) -> Anchor | None:
        try:
            d = json.loads(self._sidecar("anchor").read_text("ascii"))
            return Anchor(int(d["seq"]), str(d["hash"]))
        except FileNotFoundError:
            return None

    def _load_state(self) -> ChainState:
        """The chain state from ``path.head`` (a store from before it: the anchor only)."""
        try:
            return ChainState.from_dict(json.loads(self._sidecar("head").read_text("ascii")))
        except FileNotFoundError:
            anchor = self._anchor()
            return (
                ChainState(anchor_seq=anchor.seq, anchor_hash=anchor.hash)
                if anchor
                else ChainState()
            )
        except ValueError as exc:  # unreadable: verify reports it; writing would hide it
            raise ValueError(f"{self._sidecar('head')} is unreadable: {exc}") from None

    def _replace(self, suffix: str, data: dict) -> None:
        target = self._sidecar(suffix)
        tmp = target.with_name(target.name + ".tmp")
        tmp.write_text(json.dumps(data, sort_keys=True), "ascii")
        os.replace(tmp, target)

    def _save_state(self, state: ChainState) -> None:
        self._replace("head", state.as_dict())
        if state.anchor_seq is not None:
            self._replace("anchor", {"seq": state.anchor_seq, "hash": state.anchor_hash})

    def _open(self) -> None:
        if self._opened:
            return
        if self.read_only:
            if not self.segments():
                raise FileNotFoundError(self.path)
        else:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._repair_tail()
            self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        last = None
        for seg in reversed(self.segments()):
            last = _last_entry(seg)
            if last is not None:
                break
        state = self._load_state()
        tip = (self._last_seq, self._last_hash)
        if last is not None:
            tip = (int(last["seq"]), str(last["hash"]))
        elif state.anchor_seq is not None:
            tip = (state.anchor_seq, state.anchor_hash)
        try:
            self._adopt(state, *tip, writing=not self.read_only)
        except Exception:
            self.close()
            raise
        self._opened = True

    def _repair_tail(self) -> None:
        """Cut an incomplete last line (a crash mid-write) off the active file."""
        if not self.path.exists():
            return
        data = self.path.read_bytes()
        if not data or data.endswith(b"\n"):
            return
        cut = data.rfind(b"\n") + 1
        tail = data[cut:]
        if _parse(tail) is not None:  # whole entry, only the newline was lost
            with open(self.path, "ab") as f:
                f.write(b"\n")
            return
        with open(str(self.path) + ".torn", "ab") as f:
            f.write(tail + b"\n")
        os.truncate(self.path, cut)
        self.torn_repaired += 1
        logger.warning(
            "audit file %s ended in a torn line (crash mid-write); moved %d bytes to %s.torn",
            self.path,
            len(tail),
            self.path,
        )

    def _write(self, entries: list[dict], records, state: ChainState) -> None:
        data = "".join(_line(e, r.details_json) for e, r in zip(entries, records)).encode("ascii")
        fd = self._fd
        start = os.fstat(fd).st_size
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
        except BaseException:
            with contextlib.suppress(OSError):  # never leave half a batch or line behind
                os.ftruncate(fd, start)
            raise
        try:  # the entries are written: a failure now must not make the writer retry them
            self._save_state(state)
        except OSError as exc:
            logger.warning("audit head %s not updated (%s); it lags until the next batch",
                           self._sidecar("head"), exc)  # fmt: skip
        if start + len(data) >= self.max_bytes:
            self._rotate()

    def _rotate(self) -> None:
        numbers = [int(p.name.rsplit(".", 1)[1]) for p in self.segments()[:-1]]
        target = self.path.with_name(f"{self.path.name}.{max(numbers, default=0) + 1:06d}")
        os.close(self._fd)
        self._fd = None
        os.replace(self.path, target)
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)

    # --- reading -----------------------------------------------------------------------------
    def _read(self, seg: Path) -> tuple[list[dict], bool]:
        """Entries of one segment and whether it ends in a torn line."""
        data = seg.read_bytes()
        lines = data.split(b"\n")
        torn = False
        if lines and lines[-1] == b"":
            lines.pop()
        elif lines and _parse(lines[-1]) is None:
            lines.pop()
            torn = True
        out = []
        for i, raw in enumerate(lines, 1):
            entry = _parse(raw)
            out.append(entry if entry is not None else {"_corrupt": f"{seg.name}:{i}"})
        return out, torn

    def query(self, operation=None, since=None, until=None, success=None, limit=100):
        with self._lock:
            self._open()
            out: list[dict] = []
            for seg in reversed(self.segments()):
                entries, _ = self._read(seg)
                for e in reversed(entries):
                    if "_corrupt" not in e and matches(e, operation, since, until, success):
                        out.append(e)
                        if len(out) >= limit:
                            break
                if len(out) >= limit:
                    break
        return sorted(out, key=lambda e: (e["timestamp"], e["seq"]), reverse=True)

    def iter_entries(self) -> Iterator[dict]:
        with self._lock:
            self._open()
            segs = self.segments()
        for seg in segs:
            entries, _ = self._read(seg)
            yield from (e for e in entries if "_corrupt" not in e)

    def verify(self) -> VerifyReport:
        with self._lock:
            self._open()
            segs = self.segments()
            self._state = self._load_state()  # as stored now, not as last written
            entries: list[dict] = []
            torn = False
            for i, seg in enumerate(segs):
                seg_entries, seg_torn = self._read(seg)
                entries.extend(seg_entries)
                if seg_torn and i < len(segs) - 1:
                    entries.append({"_corrupt": f"{seg.name}: torn line inside the chain"})
                torn = torn or seg_torn
            report = self._verify_chain(entries)
            if torn and report.ok:
                report.torn_tail = True
                report.notes.append(
                    "the last line is incomplete (crash mid-write), not "
                    "tampering; it is moved aside when the store next opens"
                )
            if self.torn_repaired:
                report.notes.append(
                    f"{self.torn_repaired} torn line(s) moved to {self.path.name}.torn on open"
                )
            return report

    def prune(self, before: float) -> int:
        with self._lock:
            self._open()
            removed = 0
            for seg in self.segments():
                entries, _ = self._read(seg)
                n = 0
                while n < len(entries) and entries[n].get("timestamp", before) < before:
                    n += 1
                if n == 0:
                    break
                last = entries[n - 1]
                self._state = self._pruned_state(Anchor(int(last["seq"]), str(last["hash"])))
                self._save_state(self._state)
                removed += n
                if n < len(entries) or seg == self.path:
                    self._rewrite(seg, n)
                    if n < len(entries):
                        break
                else:
                    seg.unlink()
            return removed

    def _rewrite(self, seg: Path, drop: int) -> None:
        """Atomically replace ``seg`` with its lines after the first ``drop``."""
        lines = seg.read_bytes().splitlines(keepends=True)[drop:]
        tmp = seg.with_name(seg.name + ".tmp")
        tmp.write_bytes(b"".join(lines))
        active = seg == self.path
        if active and self._fd is not None:
            os.close(self._fd)
            self._fd = None
        os.replace(tmp, seg)
        if active and not self.read_only:
            self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)

    def count(self) -> int:
        return sum(1 for _ in self.iter_entries())

    def close(self) -> None:
        with self._lock:
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None
            self._opened = False
