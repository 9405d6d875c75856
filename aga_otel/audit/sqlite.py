"""SQLite audit backend: WAL, batched transactions, indexed on time/operation/success.

Each batch is one transaction, so a process killed mid-write loses at most that batch
and SQLite's journal leaves the database consistent. ``audit_meta`` holds the chain
state (:class:`~aga_otel.audit.keys.ChainState`: head, prune anchor, keying and, keyed,
its seal), updated in the same transactions as the entries.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
from collections.abc import Iterator
from pathlib import Path

from aga_otel.audit.base import AuditStore
from aga_otel.audit.chain import Anchor, VerifyReport
from aga_otel.audit.keys import ChainState

_SCHEMA = """
CREATE TABLE IF NOT EXISTS audit_log (
    seq INTEGER PRIMARY KEY, ts REAL NOT NULL, operation TEXT NOT NULL,
    success INTEGER NOT NULL, error TEXT, details TEXT NOT NULL, source TEXT NOT NULL,
    prev_hash TEXT NOT NULL, hash TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS audit_ts ON audit_log(ts);
CREATE INDEX IF NOT EXISTS audit_op_ts ON audit_log(operation, ts);
CREATE INDEX IF NOT EXISTS audit_success_ts ON audit_log(success, ts);
CREATE TABLE IF NOT EXISTS audit_meta (key TEXT PRIMARY KEY, seq INTEGER, hash TEXT);
"""
_COLUMNS = "seq, ts, operation, success, error, details, source, prev_hash, hash"


def _row_entry(row: tuple, parse_details: bool = True) -> dict:
    seq, ts, op, ok, err, details, source, prev, h = row
    return {
        "seq": seq,
        "timestamp": ts,
        "operation": op,
        "success": bool(ok),
        "error": err,
        "details": json.loads(details) if parse_details else details,
        "source": source,
        "prev_hash": prev,
        "hash": h,
    }


class SqliteAuditStore(AuditStore):
    """Audit entries in a SQLite file; ``read_only`` opens it without ever writing."""

    backend = "sqlite"
    keeps_chain_state = True

    def __init__(
        self, path: str | os.PathLike, read_only: bool = False, key: bytes | None = None
    ) -> None:
        super().__init__(key)
        self.path = Path(path)
        self.read_only = read_only
        self._conn: sqlite3.Connection | None = None

    def _open(self) -> None:
        if self._conn is not None:
            return
        if self.read_only:
            if not self.path.exists():
                raise FileNotFoundError(self.path)
            conn = sqlite3.connect(
                self.path.resolve().as_uri() + "?mode=ro", uri=True, check_same_thread=False
            )
        else:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
            try:
                conn.execute("PRAGMA journal_mode=WAL")
                # NORMAL in WAL mode survives a process crash; only power loss can undo
                # the last commits, never corrupt the file.
                conn.execute("PRAGMA synchronous=NORMAL")
                conn.executescript(_SCHEMA)
            except Exception:
                conn.close()
                raise
        try:
            state = self._load_state(conn)
            row = conn.execute(
                "SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1"
            ).fetchone()
            if row is None and state.anchor_seq is not None:
                row = (state.anchor_seq, state.anchor_hash)
            self._adopt(state, *(row or (0, self._last_hash)), writing=not self.read_only)
        except Exception:
            conn.close()
            raise
        self._conn = conn

    @staticmethod
    def _meta(conn: sqlite3.Connection, key: str) -> Anchor | None:
        try:
            row = conn.execute("SELECT seq, hash FROM audit_meta WHERE key=?", (key,)).fetchone()
        except sqlite3.OperationalError:  # a file from before the meta table existed
            return None
        return Anchor(row[0], row[1]) if row else None

    def _load_state(self, conn: sqlite3.Connection) -> ChainState:
        head, anchor = self._meta(conn, "head"), self._meta(conn, "anchor")
        keyed, seal = self._meta(conn, "keyed"), self._meta(conn, "seal")
        return ChainState(
            head_seq=head.seq if head else 0,
            head_hash=head.hash if head else "",
            anchor_seq=anchor.seq if anchor else None,
            anchor_hash=anchor.hash if anchor else None,
            keyed_from=keyed.seq if keyed else None,
            key_id=keyed.hash if keyed else None,
            seal=seal.hash if seal else None,
        )

    @staticmethod
    def _save_state(conn: sqlite3.Connection, st: ChainState) -> None:
        rows = [("head", st.head_seq, st.head_hash)]
        if st.anchor_seq is not None:
            rows.append(("anchor", st.anchor_seq, st.anchor_hash))
        if st.keyed_from is not None:
            rows += [("keyed", st.keyed_from, st.key_id), ("seal", 0, st.seal)]
        conn.executemany("INSERT OR REPLACE INTO audit_meta VALUES (?, ?, ?)", rows)

    def _write(self, entries: list[dict], records, state: ChainState) -> None:
        conn = self._conn
        assert conn is not None
        rows = [
            (
                e["seq"],
                e["timestamp"],
                e["operation"],
                int(e["success"]),
                e["error"],
                r.details_json,
                e["source"],
                e["prev_hash"],
                e["hash"],
            )
            for e, r in zip(entries, records)
        ]
        conn.execute("BEGIN IMMEDIATE")
        try:
            conn.executemany(f"INSERT INTO audit_log ({_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?)", rows)
            self._save_state(conn, state)
            conn.execute("COMMIT")
        except BaseException:
            # SQLite rolls back by itself on SQLITE_FULL/IOERR; a second ROLLBACK would
            # replace the real error ("database or disk is full") with "no transaction".
            if conn.in_transaction:
                with contextlib.suppress(sqlite3.Error):
                    conn.execute("ROLLBACK")
            raise

    def query(self, operation=None, since=None, until=None, success=None, limit=100):
        where, args = [], []
        for clause, value in (("operation = ?", operation), ("ts >= ?", since), ("ts <= ?", until)):
            if value is not None:
                where.append(clause)
                args.append(value)
        if success is not None:
            where.append("success = ?")
            args.append(int(bool(success)))
        sql = f"SELECT {_COLUMNS} FROM audit_log"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY ts DESC, seq DESC LIMIT ?"
        with self._lock:
            self._open()
            rows = self._conn.execute(sql, (*args, int(limit))).fetchall()
        return [_row_entry(r) for r in rows]

    def iter_entries(self) -> Iterator[dict]:
        with self._lock:
            self._open()
            rows = self._conn.execute(f"SELECT {_COLUMNS} FROM audit_log ORDER BY seq")
            # Streamed: a million rows are never all in memory.
            while batch := rows.fetchmany(1000):
                yield from (_row_entry(r) for r in batch)

    def verify(self) -> VerifyReport:
        with self._lock:
            self._open()
            self._state = self._load_state(self._conn)  # as stored now, not as last written
            cur = self._conn.execute(f"SELECT {_COLUMNS} FROM audit_log ORDER BY seq")
            entries = (_row_entry(r, parse_details=False) for r in cur)
            return self._verify_chain(entries)

    def prune(self, before: float) -> int:
        with self._lock:
            self._open()
            conn = self._conn
            row = conn.execute("SELECT MIN(seq) FROM audit_log WHERE ts >= ?", (before,)).fetchone()
            stop = row[0] if row[0] is not None else self._last_seq + 1
            last = conn.execute(
                "SELECT seq, hash FROM audit_log WHERE seq < ? ORDER BY seq DESC LIMIT 1", (stop,)
            ).fetchone()
            if last is None:
                return 0
            state = self._pruned_state(Anchor(*last))
            conn.execute("BEGIN IMMEDIATE")
            try:
                self._save_state(conn, state)
                n = conn.execute("DELETE FROM audit_log WHERE seq <= ?", (last[0],)).rowcount
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            self._state = state
            return n

    def count(self) -> int:
        with self._lock:
            self._open()
            return self._conn.execute("SELECT COUNT(*) FROM audit_log").fetchone()[0]

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None
