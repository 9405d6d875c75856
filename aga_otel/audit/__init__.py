"""The tamper-evident audit trail: every aga-core knowledge operation, durably stored.

Usage::

    from aga_otel.audit import open_store

    store = open_store("sqlite", "aga_audit.db")
    store.query(operation="register", success=False, limit=20)   # newest first
    report = store.verify()            # report.ok, report.problem, report.seq

Backends share one surface (:class:`AuditStore`): ``memory``, ``file`` (JSON lines with
rotation), ``sqlite`` (WAL, indexed) and ``postgresql`` (one database for a fleet, a chain
per ``service.instance.id``, a local spill through outages; needs ``aga-otel[postgresql]``).
Each entry is chained to the previous one by SHA-256 (:mod:`aga_otel.audit.chain`), or — on
the local stores — by HMAC-SHA256 with a key kept outside the trail
(:mod:`aga_otel.audit.keys`). The log pipeline feeds the store through an
:class:`AuditWriter` (batched, bounded backlog, retention pruning). Retrievals that
injected facts are stored as ``inject`` rows (:mod:`aga_otel.audit.injections`);
:mod:`aga_otel.audit.explain` answers "which facts reached this request" from them.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from aga_otel.audit.base import AuditStore
from aga_otel.audit.chain import AuditRecord, VerifyReport
from aga_otel.audit.jsonl import JsonlAuditStore
from aga_otel.audit.keys import load_key
from aga_otel.audit.memory import MemoryAuditStore
from aga_otel.audit.sanitize import sanitize_details
from aga_otel.audit.sqlite import SqliteAuditStore
from aga_otel.audit.writer import AuditWriter

__all__ = [
    "build_audit_store",
    "AuditRecord",
    "AuditStore",
    "AuditWriter",
    "JsonlAuditStore",
    "MemoryAuditStore",
    "SqliteAuditStore",
    "VerifyReport",
    "detect_backend",
    "open_store",
    "sanitize_details",
]


def open_store(
    backend: str,
    path: str | os.PathLike | None = None,
    read_only: bool = False,
    key: bytes | None = None,
    **options,
) -> AuditStore:
    """A store for ``backend`` (memory | file | sqlite | postgresql); opening is lazy.

    ``key`` (see :func:`aga_otel.audit.keys.load_key`) makes the chain HMAC-keyed from the
    next entry on, and is needed to append to or fully verify a keyed store (local stores
    only). For ``postgresql``, ``path`` is the DSN and ``options`` go to
    :class:`~aga_otel.audit.postgres.PostgresAuditStore` (``instance``, ``spill_path``...).
    """
    if backend == "memory":
        return MemoryAuditStore(key=key)
    if backend == "postgresql":
        from aga_otel.audit.postgres import PostgresAuditStore  # psycopg is an extra

        if path is None:
            raise ValueError("the postgresql audit backend needs a DSN")
        if key is not None:
            raise ValueError("keyed (HMAC) chains are not supported by the postgresql backend")
        return PostgresAuditStore(str(path), read_only=read_only, **options)
    if path is None:
        raise ValueError(f"the {backend} audit backend needs a path")
    if backend == "sqlite":
        return SqliteAuditStore(path, read_only=read_only, key=key)
    if backend == "file":
        return JsonlAuditStore(path, read_only=read_only, key=key)
    raise ValueError(
        f"unknown audit backend {backend!r}; accepted: memory, file, sqlite, postgresql"
    )


def detect_backend(path: str | os.PathLike) -> str:
    """``postgresql`` for a postgresql:// URL, ``sqlite`` when ``path`` is a SQLite
    database, else ``file`` (JSON lines)."""
    if str(path).split("://", 1)[0] in ("postgresql", "postgres"):
        return "postgresql"
    try:
        with open(path, "rb") as f:
            return "sqlite" if f.read(16) == b"SQLite format 3\x00" else "file"
    except FileNotFoundError:
        # A JSONL store whose active file was rotated away still has segments.
        return "file" if list(Path(path).parent.glob(Path(path).name + ".0*")) else "sqlite"


def build_audit_store(config: Any, resource: Any) -> AuditStore:
    """The store an ``ObservabilityConfig`` names (the stack's audit trail): PostgreSQL
    chains are keyed by the resource's ``service.instance.id``; the local stores take the
    HMAC key when one is configured."""
    if config.audit_storage_backend != "postgresql":
        key = load_key(config.audit_hmac_key_file, config.audit_hmac_key_env)
        return open_store(config.audit_storage_backend, config.audit_storage_path, key=key)
    instance = str(resource.attributes.get("service.instance.id") or "default")
    return open_store(
        "postgresql",
        config.audit_dsn,
        instance=instance,
        spill_path=Path(config.audit_spill_dir) / f"{instance}.jsonl",
        spill_max_bytes=config.audit_spill_max_bytes,
    )
