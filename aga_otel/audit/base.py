"""What every audit backend provides, and the chain tip bookkeeping they share."""

from __future__ import annotations

import dataclasses
import threading
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator, Sequence

from aga_otel.audit.chain import (
    GENESIS_HASH,
    Anchor,
    AuditRecord,
    VerifyReport,
    chain,
    verify_entries,
)
from aga_otel.audit.keys import ChainState, DamagedStore, KeyMismatch, key_id, keying_for_write


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
    #: A backend that persists the chain state (``_write`` takes it; ``_open`` calls
    #: ``_adopt``) supports keyed chains; one that does not keeps the two-argument ``_write``.
    keeps_chain_state = False
    #: A backend that hands back the records' ``details`` dicts (not their stored text):
    #: they are then the canonical text parsed back, as every other backend returns them.
    keeps_details = False

    def __init__(self, key: bytes | None = None) -> None:
        if key is not None and not self.keeps_chain_state:
            raise ValueError(f"the {self.backend} audit backend does not support a keyed chain")
        self._lock = threading.RLock()
        self._last_seq = 0
        self._last_hash = GENESIS_HASH
        self._key = key  # HMAC key (keyed mode); never written anywhere
        self._state = ChainState()

    def append(self, records: Sequence[AuditRecord]) -> list[dict]:
        """Chain and persist ``records`` atomically; the tip moves only on success."""
        with self._lock:
            self._open()
            keyed = self._state.keyed_from is not None
            entries = chain(records, self._last_seq, self._last_hash, self._key if keyed else None)
            if entries:
                last = entries[-1]
                state = dataclasses.replace(
                    self._state, head_seq=last["seq"], head_hash=last["hash"]
                ).sealed(self._key)
                if self.keeps_chain_state:
                    self._write(entries, records, state)
                else:
                    self._write(entries, records)  # type: ignore[call-arg]
                self._last_seq, self._last_hash, self._state = last["seq"], last["hash"], state
            return entries

    # --- chain state: head, anchor, keying (see aga_otel.audit.keys) ------------------------
    def _adopt(self, state: ChainState, last_seq: int, last_hash: str, writing: bool) -> None:
        """Take the loaded tip and state; before appending, check they allow it."""
        if writing:
            if state.head_seq > last_seq:
                raise DamagedStore(
                    f"the audit store ends at entry {last_seq} but its head records "
                    f"{state.head_seq}: entries were deleted or truncated; refusing to append "
                    "(run `aga-otel audit verify`, then move the store aside)"
                )
            keyed_from, kid = keying_for_write(state, self._key)
            state = dataclasses.replace(state, keyed_from=keyed_from, key_id=kid)
        self._last_seq, self._last_hash, self._state = last_seq, last_hash, state

    def _pruned_state(self, anchor: Anchor) -> ChainState:
        return dataclasses.replace(
            self._state, anchor_seq=anchor.seq, anchor_hash=anchor.hash
        ).sealed(self._key)

    @property
    def _anchor_of_state(self) -> Anchor | None:
        st = self._state
        return None if st.anchor_seq is None else Anchor(st.anchor_seq, st.anchor_hash)

    def _verify_chain(self, entries: Iterable[dict]) -> VerifyReport:
        """Check the state record (keying, seal), then the entries against it."""
        st, key = self._state, self._key
        report = VerifyReport(ok=True, keyed_from=st.keyed_from)
        if key is not None:
            if st.keyed_from is None:
                report.ok, report.problem, report.detail = (
                    False, "not_keyed", "a key was given but the store records no keying: "
                    "written without a key, or its keying record was removed",
                )  # fmt: skip
                return report
            if st.key_id != key_id(key):
                raise KeyMismatch(
                    f"this audit store is keyed with key id {st.key_id}, not {key_id(key)}"
                )
            if st.seal != st.expected_seal(key):
                report.ok, report.problem, report.seq = False, "edited", st.head_seq
                report.detail = "head, anchor or keying record does not match its seal"
                return report
        head = st.head_seq or None
        return verify_entries(
            entries, self._anchor_of_state, head, key, st.keyed_from, st.head_hash
        )

    @property
    def keyed(self) -> bool:
        """True when entries are (or, from the next one, will be) HMAC-keyed."""
        return self._state.keyed_from is not None

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
    def _write(
        self, entries: list[dict], records: Sequence[AuditRecord], state: ChainState
    ) -> None:
        """Persist chained entries (``records[i]`` holds entry i's canonical details text)
        and the new chain ``state`` (when ``keeps_chain_state``), all-or-nothing where the
        backend allows, or raise."""

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
