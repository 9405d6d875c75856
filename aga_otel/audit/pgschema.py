"""The PostgreSQL audit schema, its versioning, and DSN checks that never reveal secrets.

Tables (created on first write, under an advisory lock so that many processes starting
together create them once):

- ``aga_audit_log``: one row per entry, primary key ``(instance, seq)`` — a hash chain per
  ``service.instance.id``; indexed by time, operation+time, instance+time, fact id+time.
- ``aga_audit_head``: per instance the chain tip (``seq``, ``hash``), the retention anchor
  and how far the local spill was replayed. Its row is locked by each write of that
  instance, so a chain never forks.
- ``aga_audit_schema``: the schema versions applied; a later release migrates from here,
  and this release refuses to write into a newer schema.
"""

from __future__ import annotations

from typing import Any

from aga_otel._validate import ConfigError

SCHEMA_VERSION = 1
LOG, HEAD, VERSIONS = "aga_audit_log", "aga_audit_head", "aga_audit_schema"
_MIGRATION_LOCK = 0x6167616F  # pg_advisory_xact_lock key ("agao")

MIGRATIONS = {
    1: [
        f"""CREATE TABLE IF NOT EXISTS {LOG} (
            instance TEXT NOT NULL, seq BIGINT NOT NULL, ts DOUBLE PRECISION NOT NULL,
            operation TEXT NOT NULL, success BOOLEAN NOT NULL, error TEXT,
            details TEXT NOT NULL, source TEXT NOT NULL, fact_id TEXT,
            prev_hash TEXT NOT NULL, hash TEXT NOT NULL, PRIMARY KEY (instance, seq))""",
        f"CREATE INDEX IF NOT EXISTS aga_audit_ts ON {LOG} (ts)",
        f"CREATE INDEX IF NOT EXISTS aga_audit_op_ts ON {LOG} (operation, ts)",
        f"CREATE INDEX IF NOT EXISTS aga_audit_instance_ts ON {LOG} (instance, ts)",
        f"CREATE INDEX IF NOT EXISTS aga_audit_fact_ts ON {LOG} (fact_id, ts)"
        " WHERE fact_id IS NOT NULL",
        f"""CREATE TABLE IF NOT EXISTS {HEAD} (
            instance TEXT PRIMARY KEY, seq BIGINT NOT NULL, hash TEXT NOT NULL,
            anchor_seq BIGINT NOT NULL DEFAULT 0, anchor_hash TEXT,
            spill_id TEXT, spill_line BIGINT,
            updated_at TIMESTAMPTZ NOT NULL DEFAULT now())""",
    ],
}


def migrate(conn: Any) -> int:
    """Bring the schema to :data:`SCHEMA_VERSION`; returns the version found before."""
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (_MIGRATION_LOCK,))
        conn.execute(
            f"CREATE TABLE IF NOT EXISTS {VERSIONS} (version INTEGER PRIMARY KEY,"
            " applied_at TIMESTAMPTZ NOT NULL DEFAULT now())"
        )
        found = conn.execute(f"SELECT COALESCE(MAX(version), 0) FROM {VERSIONS}").fetchone()[0]
        if found > SCHEMA_VERSION:
            raise RuntimeError(
                f"audit schema version {found} is newer than this aga-otel's "
                f"({SCHEMA_VERSION}); upgrade aga-otel before writing to this database"
            )
        for version in range(found + 1, SCHEMA_VERSION + 1):
            for statement in MIGRATIONS[version]:
                conn.execute(statement)
            conn.execute(f"INSERT INTO {VERSIONS} (version) VALUES (%s)", (version,))
    return found


def schema_version(conn: Any) -> int:
    """The version a database holds (0: no aga-otel audit tables), without writing."""
    if conn.execute("SELECT to_regclass(%s)", (VERSIONS,)).fetchone()[0] is None:
        return 0
    return conn.execute(f"SELECT COALESCE(MAX(version), 0) FROM {VERSIONS}").fetchone()[0]


# --- DSNs -------------------------------------------------------------------------------
DSN_ACCEPTED = (
    "a PostgreSQL URL (postgresql://user@host:5432/db) or key=value DSN that libpq parses"
)


def is_postgres_url(text: Any) -> bool:
    return isinstance(text, str) and text.split("://", 1)[0] in ("postgresql", "postgres")


def redact_dsn(dsn: Any) -> str:
    """``postgresql://user@host:port/db``: what a DSN may show in logs, health and stats."""
    try:
        from psycopg.conninfo import conninfo_to_dict

        info = conninfo_to_dict(dsn)
    except Exception:
        return "<unparsable PostgreSQL DSN, not shown>"
    user = f"{info['user']}@" if info.get("user") else ""
    host = str(info.get("host") or info.get("hostaddr") or "")
    if "/" in host:  # a unix socket directory: show it as libpq's URL form would
        host = f"[{host}]"
    port = f":{info['port']}" if info.get("port") else ""
    return f"postgresql://{user}{host}{port}/{info.get('dbname') or ''}"


def check_dsn(dsn: Any, field: str = "audit_dsn") -> None:
    """Raise :class:`ConfigError` unless libpq can parse ``dsn`` (nothing is contacted)."""
    if not isinstance(dsn, str) or not dsn.strip():
        raise ConfigError(field, dsn, DSN_ACCEPTED + " (required by the postgresql backend)")
    if "://" in dsn.split(" ", 1)[0] and not is_postgres_url(dsn):
        raise ConfigError(field, redact_dsn(dsn), DSN_ACCEPTED)
    try:
        import psycopg
    except ImportError:
        raise ConfigError(
            "audit_storage_backend",
            "postgresql",
            "memory, file, sqlite; postgresql needs psycopg 3: pip install 'aga-otel[postgresql]'",
        ) from None
    try:
        psycopg.conninfo.conninfo_to_dict(dsn)
    except psycopg.ProgrammingError:
        raise ConfigError(field, redact_dsn(dsn), DSN_ACCEPTED) from None


def scrub(text: str, dsn: str) -> str:
    """``text`` (an error message) with the DSN's password, if any, replaced."""
    try:
        from psycopg.conninfo import conninfo_to_dict

        password = conninfo_to_dict(dsn).get("password")
    except Exception:
        password = None
    if password:
        text = text.replace(str(password), "***")
    return text.replace(dsn, redact_dsn(dsn)) if dsn else text
