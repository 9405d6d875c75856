"""What every audit backend provides, and the chain tip bookkeeping they share."""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence

from aga_otel.audit.chain import GENESIS_HASH, AuditRecord, VerifyReport, chain


def matches(
    entry: dict,
    operation: str | None,
    since: float | None,
    until: float | None,
    success: bool | None,
) -> bool:
    """The query filter, for backends that filter in Python (memory, JSONL)."""
    if operation is not None and entry.get("operation") != operation:
        return False
    ts = entry.get("timestamp")
    if since is not None and not (isinstance(ts, (int, float)) and ts >= since):
        return False
    if until is not None and not (isinstance(ts, (int, float)) and ts <= until):
        return False
    return success is None or entry.get("success") is success


class AuditStore(ABC):
    """An append-only, hash-chained audit store.

    ``append`` is called by one writer thread; ``query``/``verify``/``export`` may run
    from any thread (each backend serialises access with ``self._lock``). Opening is lazy:
    constructing a store never touches the disk, so a bad path surfaces on first write,
    where the writer turns it into a degraded status instead of an exception.
    """

    backend = "abstract"

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._last_seq = 0
        self._last_hash = GENESIS_HASH

    def append(self, records: Sequence[AuditRecord]) -> list[dict]:
        """Chain and persist ``records`` atomically; the tip moves only on success."""
        with self._lock:
            self._open()
            entries = chain(records, self._last_seq, self._last_hash)
            if entries:
                self._write(entries, records)
                self._last_seq, self._last_hash = entries[-1]["seq"], entries[-1]["hash"]
            return entries

    @property
    def last_seq(self) -> int:
        return self._last_seq

    def open(self) -> None:
        """Open the store now (idempotent); raises what opening raises (a bad path...)."""
        with self._lock:
            self._open()

    @abstractmethod
    def _open(self) -> None:
        """Open (idempotently) and load the chain tip."""

    @abstractmethod
    def _write(self, entries: list[dict], records: Sequence[AuditRecord]) -> None:
        """Persist chained entries (``records[i]`` holds entry i's canonical details text)
        all-or-nothing, or raise."""

    @abstractmethod
    def query(
        self,
        operation: str | None = None,
        since: float | None = None,
        until: float | None = None,
        success: bool | None = None,
        limit: int = 100,
    ) -> list[dict]:
        """Entries matching every given filter, newest first, at most ``limit``."""

    @abstractmethod
    def iter_entries(self) -> Iterator[dict]:
        """Every stored entry, oldest first (for export)."""

    @abstractmethod
    def verify(self) -> VerifyReport:
        """Check the hash chain; see :func:`aga_otel.audit.chain.verify_entries`."""

    @abstractmethod
    def prune(self, before: float) -> int:
        """Drop the oldest entries with ``timestamp < before``; returns how many.

        Only a prefix of the chain is removed (stopping at the first newer entry), and the
        last removed entry becomes the anchor, so the rest still verifies.
        """

    @abstractmethod
    def count(self) -> int:
        """Number of stored entries."""

    def close(self) -> None:
        """Release files and connections (the store reopens on next use)."""
        return None

    # Remote stores (PostgreSQL) hold records locally through an outage; local ones never do.
    def held(self) -> int:
        """Records accepted but held locally until the store is reachable again."""
        return 0

    def health(self) -> str | None:
        """Why the store is degraded although ``append`` succeeded, or None."""
        return None

    def stats(self) -> dict:
        """Backend-specific figures merged into the writer's stats (no credentials)."""
        return {}
