"""PostgreSQL audit backend: one database for a fleet, a hash chain per service instance.

Many processes on many hosts append to one database. Each store writes the chain of its
own ``service.instance.id``: a batch is one transaction that locks the instance's row in
``aga_audit_head``, chains the records from the tip stored there, COPYs them into
``aga_audit_log`` and moves the tip. Processes never wait for each other, and a chain never
forks even if two processes were given the same instance id. Schema: :mod:`.pgschema`.

While the database is unreachable, batches go to a bounded on-disk spill
(:mod:`aga_otel.audit.spill`), and the store reports itself degraded. When the database
answers again the spill is replayed, in order and before anything newer; the head row
records the last replayed spill line in the same transaction as the rows, so a crash never
stores a record twice. Credentials are never shown: logs, health and stats see
:func:`~aga_otel.audit.pgschema.redact_dsn`'s form of the DSN.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

from aga_otel.audit import pgrows as rows
from aga_otel.audit.base import AuditStore
from aga_otel.audit.chain import (
    GENESIS_HASH,
    AuditRecord,
    VerifyReport,
    chain,
)
from aga_otel.audit.pgschema import HEAD, LOG, migrate, redact_dsn, schema_version, scrub
from aga_otel.audit.spill import Spill, orphans

logger = logging.getLogger(__name__)


class PostgresAuditStore(AuditStore):
    """Audit entries of instance ``instance`` in the database at ``dsn``.

    ``spill_path`` (a file, one per instance) and ``spill_max_bytes`` bound the outage
    buffer; ``retry_interval`` is how long writes go straight to the spill after a failed
    attempt. ``read_only`` stores (the CLI) never create or change anything.
    """

    backend = "postgresql"

    def __init__(self, dsn: str, instance: str = "default",
                 spill_path: str | os.PathLike | None = None, spill_max_bytes: int = 64 << 20,
                 retry_interval: float = 2.0, connect_timeout: float = 5.0,
                 read_only: bool = False, adopt_orphans: bool = True) -> None:  # fmt: skip
        super().__init__()
        self.dsn, self.instance, self.read_only = dsn, instance, read_only
        self.where = redact_dsn(dsn)
        path = spill_path or Path("aga_audit_spill") / f"{instance}.jsonl"
        self.spill = Spill(path, spill_max_bytes)
        self.retry_interval, self.connect_timeout = retry_interval, connect_timeout
        self.replayed = 0
        self._conn = None
        self._retry_at = 0.0
        self._outage: str | None = None  # why the last attempt failed; None when fine
        self._overflow_logged = False
        self._adopt = self._adopt_due = adopt_orphans and not read_only

    # --- connection ---------------------------------------------------------------------
    def _open(self) -> None:
        if self._conn is not None and not self._conn.closed:
            return
        import psycopg

        conn = psycopg.connect(self.dsn, autocommit=True, application_name="aga-otel",
                               connect_timeout=max(1, round(self.connect_timeout)))  # fmt: skip
        try:
            if self.read_only:
                if schema_version(conn) == 0:
                    raise ValueError(f"no aga-otel audit tables in {self.where}")
            else:
                migrate(conn)
        except BaseException:
            conn.close()
            raise
        self._conn = conn

    def close(self) -> None:
        with self._lock:
            conn, self._conn = self._conn, None
            if conn is not None:
                with contextlib.suppress(Exception):  # a broken connection may not close
                    conn.close()

    # --- writing ------------------------------------------------------------------------
    def append(self, records: Sequence[AuditRecord]) -> list[dict]:
        """Write ``records`` (after replaying the spill), or spill them; never loses them
        silently. An empty ``records`` only retries the spill."""
        records = [rows.storable(r) for r in records]
        with self._lock:
            if not records and not self.spill.pending:
                return []
            if time.monotonic() < self._retry_at:  # still backing off after a failure
                return self._to_spill(records)
            if self.spill.pending and not self._replay():
                return self._to_spill(records)
            if not records:
                return []
            try:
                self._open()
                entries = self._insert(records)
            except Exception as exc:
                self._failed(exc)
                return self._to_spill(records)
            self._recovered()
            return entries

    def _insert(self, records: Sequence[AuditRecord], mark: tuple[str, int] | None = None):
        """One transaction: lock the instance's head, chain, COPY, move the head.

        ``mark`` = (spill id, line of records[0]): records already stored by an earlier
        replay that crashed before its acknowledgement are skipped.
        """
        conn = self._conn
        with conn.transaction():
            conn.execute(
                f"INSERT INTO {HEAD} (instance, seq, hash) VALUES (%s, 0, %s)"
                " ON CONFLICT (instance) DO NOTHING",
                (self.instance, GENESIS_HASH),
            )
            seq, last, spill_id, spill_line = conn.execute(
                f"SELECT seq, hash, spill_id, spill_line FROM {HEAD} WHERE instance = %s"
                " FOR UPDATE",
                (self.instance,),
            ).fetchone()
            if mark is not None:
                last_line = mark[1] + len(records) - 1
                if spill_id == mark[0] and spill_line is not None:  # partly stored already
                    records = records[max(0, spill_line + 1 - mark[1]) :]
                spill_id, spill_line = mark[0], last_line
            entries = chain(records, seq, last)
            with conn.cursor().copy(f"COPY {LOG} ({rows.COLUMNS}, fact_id) FROM STDIN") as copy:
                for e, r in zip(entries, records):
                    copy.write_row((self.instance, e["seq"], e["timestamp"], e["operation"],
                                    e["success"], e["error"], r.details_json, e["source"],
                                    e["prev_hash"], e["hash"], rows.fact_id(r.details)))  # fmt: skip
            tip = entries[-1] if entries else {"seq": seq, "hash": last}
            conn.execute(
                f"UPDATE {HEAD} SET seq = %s, hash = %s, spill_id = %s, spill_line = %s,"
                " updated_at = now() WHERE instance = %s",
                (tip["seq"], tip["hash"], spill_id, spill_line, self.instance),
            )
        self._last_seq, self._last_hash = tip["seq"], tip["hash"]
        return entries

    def _replay(self) -> bool:
        """Write the spill out, oldest first; True when it is empty afterwards."""
        try:
            self._open()
            while self.spill.pending:
                records, first, end = self.spill.peek(1000)
                self._insert(records, (self.spill.id, first))
                self.spill.consume(len(records), end)
                self.replayed += len(records)
        except Exception as exc:
            self._failed(exc)
            return False
        self._recovered()
        return True

    def _to_spill(self, records: list[AuditRecord]) -> list[dict]:
        if not records:
            return []
        try:
            kept = self.spill.add(records)
        except OSError as exc:  # the spill's disk is gone too: the writer keeps them in memory
            raise OSError(f"{self._outage}; local spill {self.spill.path} failed: {exc}") from exc
        if kept < len(records) and not self._overflow_logged:
            self._overflow_logged = True
            logger.error("audit spill %s full (%d bytes): counting and dropping audit records "
                         "until %s is reachable", self.spill.path, self.spill.max_bytes,
                         self.where)  # fmt: skip
        return []

    def _failed(self, exc: Exception) -> None:
        self._retry_at = time.monotonic() + self.retry_interval
        reason = scrub(f"{type(exc).__name__}: {exc}", self.dsn).strip().splitlines()[0]
        if self._outage is None:
            logger.error("audit database %s unreachable (%s); spilling records to %s",
                         self.where, reason, self.spill.path)  # fmt: skip
        self._outage = reason
        self.close()  # reconnect next time

    def _recovered(self) -> None:
        if self._outage is not None:
            logger.warning("audit database %s reachable again; %d spilled records replayed",
                           self.where, self.replayed)  # fmt: skip
            self._adopt_due = self._adopt  # processes may have exited meanwhile
        self._outage, self._overflow_logged = None, False
        if self._adopt_due:
            self._adopt_due = False
            self._adopt_orphans()

    def _adopt_orphans(self) -> None:
        """Replay spills left by exited processes (generated instance ids never come
        back), each into its own instance's chain."""
        for path in orphans(self.spill.path.parent, self.spill.path):
            other = PostgresAuditStore(self.dsn, path.stem, path, adopt_orphans=False,
                                       connect_timeout=self.connect_timeout)  # fmt: skip
            try:
                other.append([])
            finally:
                other.close()
            if other.replayed:
                logger.warning("audit spill of exited instance %s: %d records replayed",
                               path.stem, other.replayed)  # fmt: skip

    # --- health -------------------------------------------------------------------------
    def held(self) -> int:
        with self._lock:
            return self.spill.pending

    # Read by other threads (health, get_stats) without the lock: the writer thread may hold
    # it for a whole connection attempt, and a probe must never wait for that.
    def health(self) -> str | None:
        pending, _ = self.spill.known
        outage = self._outage
        if outage is None and not pending:
            return None
        return (
            f"{self.where} unreachable ({outage or 'replaying'}); {pending} records in local spill"
        )

    def stats(self) -> dict:
        pending, size = self.spill.known
        return {"database": self.where, "instance": self.instance, "spill_pending": pending,
                "spill_bytes": size, "spill_overflowed": self.spill.overflowed,
                "spill_replayed": self.replayed}  # fmt: skip

    # --- reading ------------------------------------------------------------------------
    def query(self, operation=None, since=None, until=None, success=None, limit=100,
              instance=None, fact_id=None) -> list[dict]:  # fmt: skip
        """Newest first; also filters by ``instance`` and ``fact_id`` (details ``id``)."""
        filters = {"operation": operation, "since": since, "until": until, "success": success,
                   "instance": instance, "fact_id": fact_id}  # fmt: skip
        sql, args = rows.select(filters, "ts DESC, instance, seq DESC", limit)
        with self._lock:
            self._open()
            found = self._conn.execute(sql, args).fetchall()
        return [rows.entry(r) for r in found]

    def _rows(self, instance: str | None) -> Iterator[tuple]:
        """Rows by instance then sequence, through a server-side cursor (an export never
        holds the table in memory)."""
        sql, args = rows.select({"instance": instance}, "instance, seq")
        with self._lock:
            self._open()
            with self._conn.transaction(), self._conn.cursor(name="aga_audit_read") as cur:
                cur.itersize = 2000
                cur.execute(sql, args)
                yield from cur

    def iter_entries(self, instance: str | None = None) -> Iterator[dict]:
        """Every entry, by instance then sequence (each chain oldest first)."""
        return (rows.entry(r) for r in self._rows(instance))

    def verify(self, instance: str | None = None) -> VerifyReport:
        """Check one instance's chain, or (default) every chain in the table."""
        with self._lock:
            self._open()
            sql = f"SELECT instance, seq, anchor_seq, anchor_hash FROM {HEAD}"
            heads = {r[0]: r[1:] for r in self._conn.execute(sql).fetchall()}
            return rows.verify_chains(self._rows(instance), heads, instance)

    def prune(self, before: float) -> int:
        """Per instance, drop the oldest entries before ``before``; anchors keep every
        chain verifiable."""
        with self._lock:
            self._open()
            return rows.prune_chains(self._conn, before)

    def count(self, instance: str | None = None) -> int:
        with self._lock:
            self._open()
            if instance is None:
                return self._conn.execute(f"SELECT COUNT(*) FROM {LOG}").fetchone()[0]
            sql = f"SELECT COUNT(*) FROM {LOG} WHERE instance = %s"
            return self._conn.execute(sql, (instance,)).fetchone()[0]

    # The base class chains in append(); this backend chains inside the transaction.
    def _write(self, entries, records) -> None:  # pragma: no cover - never called
        raise NotImplementedError
