"""The tamper-evident hash chain shared by every audit backend.

Each stored entry carries ``prev_hash`` (the previous entry's ``hash``) and its own
``hash = sha256(prev_hash + canonical fields)``, or ``HMAC-SHA256(key, ...)`` in keyed
mode (:mod:`aga_otel.audit.keys`). Editing an entry breaks its own hash;
deleting or reordering entries breaks the sequence or the link. Retention pruning removes
a prefix of the chain and records an *anchor* (sequence number and hash of the last
pruned entry) so the remaining entries still verify from that point.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from json.encoder import encode_basestring_ascii as _quote
from math import isfinite
from typing import Any

from aga_otel.audit.keys import entry_digest
from aga_otel.audit.sanitize import (
    canonical_json,
    clean_text,
    redact_free_text,
    sanitize_details,
)
from aga_otel.redaction import SENSITIVE_WORDS

GENESIS_HASH = "0" * 64


@dataclass(frozen=True)
class AuditRecord:
    """An accepted audit event, sanitised, not yet placed in the chain."""

    timestamp: float
    operation: str
    success: bool
    error: str | None
    details: dict
    details_json: str  # canonical_json(details), hashed and stored verbatim
    source: str = "aga-core"


def make_record(
    timestamp: float,
    operation: Any,
    success: Any,
    error: Any,
    details: Any,
    redact_keys: Iterable[str] = SENSITIVE_WORDS,
    max_detail_bytes: int = 16384,
    source: Any = "aga-core",
) -> AuditRecord:
    """An :class:`AuditRecord` from untrusted values: every field made storable."""
    safe, text = sanitize_details(details, redact_keys, max_detail_bytes)
    return AuditRecord(
        timestamp=timestamp,
        operation=clean_text(operation, 256),
        success=success is True,
        error=None if error is None else redact_free_text(clean_text(error, 4096)),
        details=safe,
        details_json=text,
        source=clean_text(source, 256),
    )


@dataclass(frozen=True)
class Anchor:
    """Sequence number and hash of the last entry removed by retention pruning."""

    seq: int
    hash: str


# json.dumps(payload, ensure_ascii=True, separators=(",", ":")), built once; the payload is
# a new list of scalars, so there is no circular reference to look for.
_PAYLOAD = json.JSONEncoder(ensure_ascii=True, separators=(",", ":"), check_circular=False)


def entry_hash(prev_hash: str, seq: int, rec: AuditRecord, key: bytes | None = None) -> str:
    ts, op, err, text, src = rec.timestamp, rec.operation, rec.error, rec.details_json, rec.source
    if (type(seq) is int and type(ts) is float and isfinite(ts) and type(op) is str
            and type(text) is str and type(src) is str and (err is None or type(err) is str)
            and type(rec.success) is bool):  # fmt: skip
        # The encoder's own text for these exact types, without its per-call set-up (the
        # commonest row: every field as make_record builds it).
        error = "null" if err is None else _quote(err)
        success = "true" if rec.success else "false"
        payload = f"[{seq},{float.__repr__(ts)},{_quote(op)},{success},{error},{_quote(text)},{_quote(src)}]"
    else:
        payload = _PAYLOAD.encode([seq, ts, op, rec.success, err, text, src])
    return entry_digest(key, prev_hash, payload)


def chain(
    records: Iterable[AuditRecord], last_seq: int, last_hash: str, key: bytes | None = None
) -> list[dict]:
    """Stored entries for ``records`` following the tip ``(last_seq, last_hash)``."""
    out = []
    for rec in records:
        last_seq += 1
        h = entry_hash(last_hash, last_seq, rec, key)
        out.append(to_entry(rec, last_seq, last_hash, h))
        last_hash = h
    return out


def to_entry(rec: AuditRecord, seq: int, prev_hash: str, h: str) -> dict:
    """The public, JSON-ready form of a stored entry (what query/export return)."""
    return {
        "seq": seq,
        "timestamp": rec.timestamp,
        "operation": rec.operation,
        "success": rec.success,
        "error": rec.error,
        "details": rec.details,
        "source": rec.source,
        "prev_hash": prev_hash,
        "hash": h,
    }


def record_of(entry: dict) -> AuditRecord:
    """Rebuild the hashed fields of a stored entry (raises on a malformed entry)."""
    details = entry["details"]
    text = details if isinstance(details, str) else canonical_json(details)
    return AuditRecord(
        float(entry["timestamp"]),
        entry["operation"],
        bool(entry["success"]),
        entry["error"],
        {},
        text,
        entry["source"],
    )


@dataclass
class VerifyReport:
    """Outcome of verifying a store. ``ok`` is False only for evidence of tampering."""

    ok: bool
    checked: int = 0
    problem: str | None = None  # edited | deleted | reordered | corrupt
    seq: int | None = None  # first affected sequence number
    detail: str = ""
    anchor: dict | None = None
    torn_tail: bool = False  # an incomplete last line from a crash (not tampering)
    keyed_from: int | None = None  # entries from here on are HMAC-keyed
    needs_key: bool = False  # keyed entries were not checked: no (or another) key given
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def verify_entries(
    entries: Iterable[dict],
    anchor: Anchor | None,
    head_seq: int | None = None,
    key: bytes | None = None,
    keyed_from: int | None = None,
    head_hash: str | None = None,
) -> VerifyReport:
    """Walk ``entries`` in stored order and report the first broken link.

    ``entries`` may contain ``{"_corrupt": line_no}`` markers for unreadable lines.
    ``head_seq`` (when the backend records it) catches deletion of the newest entries.
    Entries from ``keyed_from`` on are checked with ``key``; without a key the walk stops
    there and the report says so (``needs_key``).
    """
    it: Iterator[dict] = iter(entries)
    expected = anchor.seq + 1 if anchor else 1
    prev = anchor.hash if anchor else GENESIS_HASH
    report = VerifyReport(ok=True, anchor=asdict(anchor) if anchor else None, keyed_from=keyed_from)
    for entry in it:
        if "_corrupt" in entry:
            return _bad(
                report, "corrupt", expected, f"unreadable entry at line {entry['_corrupt']}"
            )
        try:
            seq = int(entry["seq"])
            rec = record_of(entry)
            stored_prev, stored_hash = entry["prev_hash"], entry["hash"]
        except (KeyError, TypeError, ValueError) as exc:
            return _bad(report, "corrupt", expected, f"malformed entry: {exc!r}")
        if anchor and seq <= anchor.seq:
            if seq == anchor.seq and stored_hash != anchor.hash:
                return _bad(report, "edited", seq, "entry does not match the prune anchor")
            continue  # pruned by retention but not yet removed (crash mid-prune)
        if seq < expected:
            return _bad(report, "reordered", seq, f"sequence {seq} after {expected - 1}")
        if seq > expected:
            later = any(e.get("seq") == expected for e in it)
            kind = "reordered" if later else "deleted"
            return _bad(report, kind, expected, f"entry {expected} missing before {seq}")
        keyed = keyed_from is not None and seq >= keyed_from
        if keyed and key is None:
            report.needs_key = True
            report.notes.append(
                f"entries from {seq} on are keyed (HMAC): not checked without the key"
            )
            return report
        if entry_hash(stored_prev, seq, rec, key if keyed else None) != stored_hash:
            return _bad(report, "edited", seq, "content does not match its hash")
        if stored_prev != prev:
            return _bad(report, "edited", seq - 1, "hash differs from the next entry's link")
        if seq == head_seq and head_hash and stored_hash != head_hash:
            return _bad(report, "edited", seq, "hash differs from the recorded head")
        prev, expected = stored_hash, seq + 1
        report.checked += 1
    if head_seq is not None and head_seq >= expected:
        return _bad(report, "deleted", expected, f"entries {expected}..{head_seq} missing")
    return report


def _bad(report: VerifyReport, problem: str, seq: int, detail: str) -> VerifyReport:
    report.ok, report.problem, report.seq, report.detail = False, problem, seq, detail
    return report
