"""Rows of the PostgreSQL audit table: what is stored, how it reads back, how chains are
checked and pruned (the store in :mod:`.postgres` runs these under its lock)."""

from __future__ import annotations

import dataclasses
import itertools
import json
from collections.abc import Iterable

from aga_otel.audit.chain import Anchor, AuditRecord, VerifyReport, verify_entries
from aga_otel.audit.pgschema import HEAD, LOG

COLUMNS = "instance, seq, ts, operation, success, error, details, source, prev_hash, hash"
SELECT = f"SELECT {COLUMNS} FROM {LOG}"


def entry(row: tuple, parse_details: bool = True) -> dict:
    instance, seq, ts, op, ok, err, details, source, prev, h = row
    return {"instance": instance, "seq": seq, "timestamp": ts, "operation": op,
            "success": ok, "error": err,
            "details": json.loads(details) if parse_details else details,
            "source": source, "prev_hash": prev, "hash": h}  # fmt: skip


def storable(rec: AuditRecord) -> AuditRecord:
    """What the columns give back, before hashing, so the chain covers exactly what is
    stored: a float timestamp, and no NUL in text (details are ASCII JSON already)."""
    fix: dict = {k: getattr(rec, k).replace("\x00", "\\x00") for k in ("operation", "error", "source")
                 if isinstance(getattr(rec, k), str) and "\x00" in getattr(rec, k)}  # fmt: skip
    if type(rec.timestamp) is not float:
        fix["timestamp"] = float(rec.timestamp)
    return dataclasses.replace(rec, **fix) if fix else rec


def fact_id(details: dict) -> str | None:
    value = details.get("id") if isinstance(details, dict) else None
    ok = isinstance(value, (str, int)) and not isinstance(value, bool)
    return str(value)[:256].replace("\x00", "") if ok else None


def select(filters: dict, order: str, limit: int | None = None) -> tuple[str, list]:
    """SQL and arguments for rows matching every non-None ``filters`` value
    (keys: operation, since, until, success, instance, fact_id)."""
    ops = {"operation": "operation = %s", "since": "ts >= %s", "until": "ts <= %s",
           "success": "success = %s", "instance": "instance = %s", "fact_id": "fact_id = %s"}  # fmt: skip
    where = [ops[k] for k, v in filters.items() if v is not None]
    args = [v for v in filters.values() if v is not None]
    sql = SELECT + (" WHERE " + " AND ".join(where) if where else "") + " ORDER BY " + order
    if limit is not None:
        sql += " LIMIT %s"
        args.append(int(limit))
    return sql, args


def verify_chains(rows: Iterable[tuple], heads: dict, instance: str | None) -> VerifyReport:
    """Verify ``rows`` (ordered by instance, seq) chain by chain against their head rows
    (``{instance: (seq, anchor_seq, anchor_hash)}``); the first broken link wins."""
    total, seen = VerifyReport(ok=True), set()
    groups = itertools.groupby(rows, lambda r: r[0])  # streamed: never the whole table
    # A chain whose every row vanished still has a head that expects them.
    expected = set(heads if instance is None else [instance]) & set(heads)
    emptied = ((name, iter(())) for name in sorted(expected) if name not in seen)
    for name, group in itertools.chain(groups, emptied):
        seen.add(name)
        report = _verify_one(name, group, heads.get(name))
        total.checked += report.checked
        if not report.ok:
            report.checked = total.checked
            return report
    total.notes.append(f"{len(seen)} instance chain(s) verified")
    return total


def _verify_one(name: str, rows: Iterable[tuple], head) -> VerifyReport:
    if head is None:
        return VerifyReport(False, problem="corrupt", detail=f"instance {name}: no head row")
    head_seq, anchor_seq, anchor_hash = head
    anchor = Anchor(anchor_seq, anchor_hash) if anchor_seq else None
    report = verify_entries((entry(r, False) for r in rows), anchor, head_seq)
    if not report.ok:
        report.detail = f"instance {name}: {report.detail}"
    return report


def prune_chains(conn, before: float) -> int:
    """Per instance, drop the oldest entries with ``ts < before`` (a prefix, stopping at the
    first newer entry) and anchor the chain there; one transaction per instance."""
    total = 0
    names = [r[0] for r in conn.execute(f"SELECT DISTINCT instance FROM {LOG} WHERE ts < %s",
                                        (before,))]  # fmt: skip
    for name in names:
        with conn.transaction():
            head = conn.execute(f"SELECT seq FROM {HEAD} WHERE instance = %s FOR UPDATE",
                                (name,)).fetchone()  # fmt: skip
            stop = conn.execute(f"SELECT MIN(seq) FROM {LOG} WHERE instance = %s AND ts >= %s",
                                (name, before)).fetchone()[0]  # fmt: skip
            stop = stop if stop is not None else (head[0] if head else 0) + 1
            last = conn.execute(f"SELECT seq, hash FROM {LOG} WHERE instance = %s AND seq < %s"
                                " ORDER BY seq DESC LIMIT 1", (name, stop)).fetchone()  # fmt: skip
            if last is None:
                continue
            conn.execute(f"UPDATE {HEAD} SET anchor_seq = %s, anchor_hash = %s"
                         " WHERE instance = %s", (*last, name))  # fmt: skip
            total += conn.execute(f"DELETE FROM {LOG} WHERE instance = %s AND seq <= %s",
                                  (name, last[0])).rowcount  # fmt: skip
    return total
