"""In-memory audit backend: the same chain and query surface, nothing on disk."""

from __future__ import annotations

from collections.abc import Iterator

from aga_otel.audit.base import AuditStore, matches
from aga_otel.audit.chain import Anchor, VerifyReport


class MemoryAuditStore(AuditStore):
    """Keeps every entry in a list (bounded only by retention pruning)."""

    backend = "memory"
    keeps_chain_state = True
    keeps_details = True

    def __init__(self, key: bytes | None = None) -> None:
        super().__init__(key)
        self._entries: list[dict] = []
        self._opened = False

    def _open(self) -> None:
        if not self._opened:
            self._adopt(self._state, self._last_seq, self._last_hash, writing=True)
            self._opened = True

    def _write(self, entries: list[dict], records, state) -> None:
        self._entries.extend(entries)

    def query(self, operation=None, since=None, until=None, success=None, limit=100):
        with self._lock:
            out = []
            for e in reversed(self._entries):
                if matches(e, operation, since, until, success):
                    out.append(dict(e))
                    if len(out) >= limit:
                        break
            return sorted(out, key=lambda e: (e["timestamp"], e["seq"]), reverse=True)

    def iter_entries(self) -> Iterator[dict]:
        with self._lock:
            snapshot = list(self._entries)
        return (dict(e) for e in snapshot)

    def verify(self) -> VerifyReport:
        with self._lock:
            self._open()
            return self._verify_chain(list(self._entries))

    def prune(self, before: float) -> int:
        with self._lock:
            n = 0
            while n < len(self._entries) and self._entries[n]["timestamp"] < before:
                n += 1
            if n:
                last = self._entries[n - 1]
                self._state = self._pruned_state(Anchor(last["seq"], last["hash"]))
                del self._entries[:n]
            return n

    def count(self) -> int:
        with self._lock:
            return len(self._entries)
