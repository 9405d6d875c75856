"""Audit backends: query, hash chain, tamper detection on real files, pruning, bad input."""

from __future__ import annotations

import json
import math
import sqlite3

import pytest

from aga_otel.audit import AuditRecord, open_store, sanitize_details
from aga_otel.audit.chain import make_record
from aga_otel.audit.sanitize import REDACTED

BACKENDS = ("memory", "file", "sqlite")


def rec(op="register", ts=1000.0, success=True, details=None, error=None) -> AuditRecord:
    safe, text = sanitize_details(details or {"id": op}, ("password",), 4096)
    return AuditRecord(ts, op, success, error, safe, text)


def make(backend, tmp_path, **kw):
    path = tmp_path / ("audit.db" if backend == "sqlite" else "audit.jsonl")
    return open_store(backend, None if backend == "memory" else path, **kw), path


def fill(store, n=20):
    ops = ("register", "unregister", "clear")
    store.append([rec(ops[i % 3], 1000.0 + i, success=i % 4 != 0) for i in range(n)])


@pytest.mark.parametrize("backend", BACKENDS)
def test_query_filters_newest_first(backend, tmp_path):
    store, _ = make(backend, tmp_path)
    fill(store)
    rows = store.query(limit=5)
    assert [r["seq"] for r in rows] == [20, 19, 18, 17, 16]
    regs = store.query(operation="register", success=True, since=1003, until=1012)
    assert [r["timestamp"] for r in regs] == [1009.0, 1006.0, 1003.0]
    assert all(r["operation"] == "register" and r["success"] is True for r in regs)
    assert {r["seq"] for r in store.query(success=False, limit=100)} == {1, 5, 9, 13, 17}
    assert store.verify().ok and store.verify().checked == 20


@pytest.mark.parametrize("backend", ("file", "sqlite"))
def test_chain_survives_reopen(backend, tmp_path):
    store, path = make(backend, tmp_path)
    fill(store, 5)
    store.close()
    again, _ = make(backend, tmp_path)
    again.append([rec("detach", 2000.0)])
    assert again.query(limit=1)[0]["seq"] == 6
    assert again.verify().ok and again.verify().checked == 6


def _sqlite_exec(path, sql, *args):
    conn = sqlite3.connect(path)
    with conn:
        conn.execute(sql, args)
    conn.close()


def test_sqlite_tampering_is_reported(tmp_path):
    store, path = make("sqlite", tmp_path)
    fill(store, 10)
    store.close()
    _sqlite_exec(path, "UPDATE audit_log SET success = 1 - success WHERE seq = 4")
    report = open_store("sqlite", path, read_only=True).verify()
    assert (report.ok, report.problem, report.seq) == (False, "edited", 4)
    _sqlite_exec(path, "UPDATE audit_log SET success = 1 - success WHERE seq = 4")
    _sqlite_exec(path, "DELETE FROM audit_log WHERE seq = 7")
    report = open_store("sqlite", path, read_only=True).verify()
    assert (report.ok, report.problem, report.seq) == (False, "deleted", 7)
    _sqlite_exec(path, "DELETE FROM audit_log WHERE seq >= 7")  # drop the newest entries
    report = open_store("sqlite", path, read_only=True).verify()
    assert (report.ok, report.problem, report.seq) == (False, "deleted", 7)


def _lines(path):
    return path.read_bytes().splitlines(keepends=True)


def test_jsonl_tampering_is_reported(tmp_path):
    store, path = make("file", tmp_path)
    fill(store, 10)
    store.close()
    original = _lines(path)

    edited = list(original)
    entry = json.loads(edited[2])
    entry["details"]["id"] = "forged"
    edited[2] = (json.dumps(entry) + "\n").encode()
    path.write_bytes(b"".join(edited))
    r = open_store("file", path, read_only=True).verify()
    assert (r.ok, r.problem, r.seq) == (False, "edited", 3)

    path.write_bytes(b"".join(original[:5] + original[6:]))
    r = open_store("file", path, read_only=True).verify()
    assert (r.ok, r.problem, r.seq) == (False, "deleted", 6)

    path.write_bytes(b"".join(original[:5] + [original[6], original[5]] + original[7:]))
    r = open_store("file", path, read_only=True).verify()
    assert (r.ok, r.problem, r.seq) == (False, "reordered", 6)


def test_jsonl_torn_last_line_is_not_tampering(tmp_path):
    store, path = make("file", tmp_path)
    fill(store, 4)
    store.close()
    with open(path, "ab") as f:
        f.write(b'{"seq":5,"timestamp":100')  # what SIGKILL mid-write leaves
    r = open_store("file", path, read_only=True).verify()
    assert r.ok and r.torn_tail and r.checked == 4
    reopened, _ = make("file", tmp_path)  # read-write open moves the torn bytes aside
    reopened.append([rec("detach", 3000.0)])
    r = reopened.verify()
    assert r.ok and not r.torn_tail and r.checked == 5
    assert (tmp_path / "audit.jsonl.torn").read_bytes().startswith(b'{"seq":5')


@pytest.mark.parametrize("backend", BACKENDS)
def test_prune_keeps_the_chain_verifiable(backend, tmp_path):
    store, path = make(backend, tmp_path)
    fill(store, 20)
    assert store.prune(before=1008.0) == 8
    assert store.count() == 12
    report = store.verify()
    assert report.ok and report.anchor["seq"] == 8 and report.checked == 12
    store.append([rec("detach", 5000.0)])
    assert store.verify().ok
    assert store.prune(before=10_000.0) == 13 and store.count() == 0
    store.append([rec("attach", 6000.0)])
    assert store.query()[0]["seq"] == 22 and store.verify().ok


def test_jsonl_rotation_segments_verify_and_prune(tmp_path):
    path = tmp_path / "audit.jsonl"
    store = open_store("file", path)
    store.max_bytes = 2000
    for i in range(10):
        store.append([rec("register", 1000.0 + 5 * i + j) for j in range(5)])
    segments = store.segments()
    assert len(segments) > 3 and store.count() == 50
    assert store.verify().ok and store.query(limit=1)[0]["seq"] == 50
    store.prune(before=1020.0)
    assert len(store.segments()) < len(segments)
    assert store.verify().ok and store.count() == 30


def test_sanitize_odd_details():
    class Hostile:
        def __str__(self):
            raise RuntimeError("no")

    cyclic: dict = {}
    cyclic["self"] = cyclic
    deep: dict = {}
    node = deep
    for _ in range(100):
        node["x"] = node = {}
    details = {
        "metadata": {"user": "ann", "Password": "hunter2", "nested": {"api_key": "k"}},
        "bytes": b"\xff\xfe raw",
        "surrogate": "bad \udcff name",
        "nan": math.nan,
        "set": {3, 1, 2},
        "obj": Hostile(),
        "cyclic": cyclic,
        "deep": deep,
        "big_int": 10**30,
        7: "int key",
        "tuple": (1, 2),
    }
    safe, text = sanitize_details(details, ("password", "api_key"), 100_000)
    assert safe["metadata"]["Password"] == REDACTED
    assert safe["metadata"]["nested"]["api_key"] == REDACTED
    assert "hunter2" not in text and text.isascii()
    assert safe["bytes"].startswith("\\xff\\xfe") and safe["nan"] == "nan"
    assert safe["set"] == [1, 2, 3] and safe["obj"] == "<unprintable Hostile>"
    assert safe["cyclic"]["self"] == "<cycle>" and safe["big_int"] == str(10**30)
    assert safe["7"] == "int key" and json.loads(text) == safe
    huge, text = sanitize_details({"blob": "x" * 10_000_000}, (), 16384)
    assert huge["_truncated"] and len(text) <= 16384
    assert sanitize_details("not a dict")[0] == {"value": "not a dict"}


@pytest.mark.parametrize("backend", ("file", "sqlite"))
def test_odd_details_round_trip_through_a_real_store(backend, tmp_path):
    store, path = make(backend, tmp_path)
    details = {"b": b"\x80\x81", "s": "\udcff", "deep": [[[[1]]]], "f": float("inf")}
    record = make_record(1.0, "weird \udcfe op", "yes", b"err \xfd", details)
    store.append([record])
    store.close()
    reader = open_store(backend, path, read_only=True)
    row = reader.query()[0]
    assert row["details"] == record.details and reader.verify().ok
    assert row["operation"] == "weird \\udcfe op" and row["success"] is False
    assert row["error"] == "err \\xfd"
