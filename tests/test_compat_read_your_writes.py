"""1.0's audit stores read their writes: store, then query, on real SQLite and JSONL files.

1.0's ``store_batch()`` wrote before returning, and ``query()`` read the file; code written
against it stores and then reads. Each test checks the entries with a reader of its own too
(``sqlite3`` on the database file, ``json`` on the JSONL lines), so "durable" means on disk,
not in a buffer the face happens to search. ``flush_interval`` is a minute and
``batch_size`` is large throughout: nothing here is written by the writer's own schedule.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import time
from pathlib import Path

import pytest
from test_integration_support import isolated  # noqa: F401

from aga_observability import (
    FileAuditStorage,
    ObservabilityConfig,
    ObservabilityStack,
    SQLiteAuditStorage,
)
from aga_otel.contract import EventBus

pytestmark = pytest.mark.usefixtures("isolated")

SLOW = {"flush_interval": 60, "batch_size": 1000}  # the writer never flushes on its own here


def entry(operation: str = "register", i: int = 0, **details) -> dict:
    return {"timestamp": time.time(), "operation": operation,
            "details": {"id": f"k{i}", **details}, "success": True, "error": None}  # fmt: skip


def rows_on_disk(path: Path) -> list[tuple[str, dict]]:
    """(operation, details) of every stored entry, read without aga-otel."""
    if path.suffix == ".db":
        if not path.exists():
            return []
        db = sqlite3.connect(path)  # aga-otel's schema: docs/migration.md
        try:
            rows = db.execute("SELECT operation, details FROM audit_log ORDER BY seq").fetchall()
        finally:
            db.close()
        return [(op, json.loads(d)) for op, d in rows]
    if not path.exists():
        return []
    lines = [json.loads(x) for x in path.read_text().splitlines() if x.strip()]
    return [(x["operation"], x["details"]) for x in lines if "operation" in x]


@pytest.fixture(params=["sqlite", "file"])
def store(request, tmp_path):
    cls, name = {"sqlite": (SQLiteAuditStorage, "audit.db"),
                 "file": (FileAuditStorage, "audit.jsonl")}[request.param]  # fmt: skip
    s = cls(str(tmp_path / name), **SLOW)
    yield s
    s.shutdown()


def test_store_batch_is_on_disk_when_it_returns(store):
    assert store.store_batch([entry(i=i) for i in range(3)]) is True
    on_disk = rows_on_disk(Path(store.path))
    assert [(op, d["id"]) for op, d in on_disk] == [("register", "k0"), ("register", "k1"),
                                                    ("register", "k2")]  # fmt: skip
    got = store.query()
    assert [e["details"]["id"] for e in got] == ["k2", "k1", "k0"]  # newest first, as 1.0
    assert store.get_stats()["total_written"] == 3 and store.get_stats()["buffer_size"] == 0


def test_single_store_entries_are_in_the_next_query_and_stats(store):
    store.store(entry("clear", namespace="n"))
    store.store(entry("register", i=7))
    assert rows_on_disk(Path(store.path)) == []  # store() batches, as 1.0's did ...
    got = store.query()  # ... and a read writes what waits first
    assert [e["operation"] for e in got] == ["register", "clear"]
    assert store.query(operation="clear")[0]["details"] == {"id": "k0", "namespace": "n"}
    stats = store.get_stats()
    assert stats["total_written"] == 2 and stats["buffer_size"] == 0
    if isinstance(store, SQLiteAuditStorage):
        assert stats["total_records"] == 2
    else:
        assert stats["file_exists"] and stats["file_size"] > 0
    store.store(entry("unregister", i=7))
    assert store.get_stats()["total_written"] == 3  # counts include the entry just stored


def test_the_details_are_redacted_as_aga_core_s_events_are(store):
    store.store_batch([entry(api_key="sk-secret-value")])
    (row,) = store.query()
    assert "sk-secret-value" not in json.dumps(row) and "sk-secret-value" not in json.dumps(
        rows_on_disk(Path(store.path))
    )


def test_a_subscribed_bus_s_audit_events_are_in_the_next_query(store):
    bus = EventBus()
    store.subscribe(bus)
    bus.emit("audit", {"operation": "register", "details": {"id": "from-bus"},
                       "success": True, "error": None, "timestamp": time.time()})  # fmt: skip
    (row,) = store.query()  # no wait: the read hands over what was emitted before it
    assert row["details"]["id"] == "from-bus"


def test_a_failing_store_says_so_keeps_the_entries_and_recovers(tmp_path, caplog):
    blocker = tmp_path / "not-yet-a-directory"
    blocker.write_text("")  # the store's directory cannot be created
    s = FileAuditStorage(str(blocker / "audit.jsonl"), **SLOW)
    try:
        with caplog.at_level(logging.ERROR, logger="aga_otel.audit.writer"):
            assert s.store_batch([entry(i=0)]) is False  # not durable: said, not hidden
        assert any("file store write failed" in r.getMessage() for r in caplog.records)
        stats = s.get_stats()
        assert (stats["total_written"], stats["buffer_size"], stats["file_exists"]) == (0, 1, False)
        blocker.unlink()
        blocker.mkdir()  # the path is fixed: the next write takes the waiting entry along
        assert s.store_batch([entry(i=1)]) is True
        assert [d["id"] for _, d in rows_on_disk(Path(s.path))] == ["k0", "k1"]
    finally:
        s.shutdown()


def test_the_stack_s_audit_lane_keeps_its_batching_and_its_face_reads_through(tmp_path):
    path = tmp_path / "audit.db"
    bus = EventBus()
    config = ObservabilityConfig(
        prometheus_enabled=False, health_enabled=False, alert_enabled=False,
        audit_storage_backend="sqlite", audit_storage_path=str(path),
        audit_flush_interval=60, audit_batch_size=1000,
    )  # fmt: skip
    stack = ObservabilityStack(event_bus=bus, config=config).start()
    try:
        for i in range(5):
            bus.emit("audit", {"operation": "register", "details": {"id": f"k{i}"},
                               "success": True, "error": None, "timestamp": time.time()})  # fmt: skip
        assert stack.bridge.sync(5.0)  # handed to the audit trail's writer ...
        assert rows_on_disk(path) == []  # ... which batches them (a minute, or 1000)
        got = stack.audit_storage.query()  # the 1.0 face of the same store reads its writes
        assert [e["details"]["id"] for e in got] == ["k4", "k3", "k2", "k1", "k0"]
        assert len(rows_on_disk(path)) == 5
        stack.audit_storage.store_batch([entry("config_change", i=9)])
        assert rows_on_disk(path)[-1] == ("config_change", {"id": "k9"})
        assert stack.get_stats()["audit_storage"]["total_records"] == 6
    finally:
        stack.shutdown()
