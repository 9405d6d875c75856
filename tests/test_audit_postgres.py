"""The PostgreSQL audit backend against a real server the test suite starts itself."""

from __future__ import annotations

import itertools
import json
import logging
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import psycopg
import pytest
from conftest import local_config, require
from pg_server import PASSWORD, PostgresServer
from test_health_stack import get, health_of

from aga_otel import ObservabilityConfig
from aga_otel._validate import ConfigError
from aga_otel.audit import AuditWriter, open_store
from aga_otel.audit.chain import make_record
from aga_otel.audit.cli import main as audit_cli
from aga_otel.status import Status, StatusBoard

ROOT = Path(__file__).resolve().parents[1]
_db_names = itertools.count()


@pytest.fixture(scope="module")
def server():
    srv = PostgresServer()
    require(srv.available, "PostgreSQL server programs (initdb, pg_ctl) not installed")
    try:
        srv.start()
    except Exception as exc:
        srv.destroy()
        require(False, f"PostgreSQL server did not start: {exc}")
    yield srv
    srv.destroy()


@pytest.fixture
def dsn(server) -> str:
    """A fresh database per test on the shared server."""
    name = f"audit_{os.getpid()}_{next(_db_names)}"
    with psycopg.connect(server.dsn(), autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    return server.dsn(dbname=name)


def _records(n: int, start: float = 1_000.0, op: str = "register"):
    return [make_record(start + i, op, True, None, {"id": f"k{i}", "n": i}) for i in range(n)]


def _store(dsn, tmp_path, instance="i1", **kw):
    return open_store("postgresql", dsn, instance=instance,
                      spill_path=tmp_path / f"{instance}.jsonl", **kw)  # fmt: skip


def _sql(dsn: str, statement: str, args=()):
    with psycopg.connect(dsn, autocommit=True) as conn:
        cur = conn.execute(statement, args)
        return cur.fetchall() if cur.description else cur.rowcount


# --- configuration --------------------------------------------------------------------
@pytest.mark.parametrize("bad", [None, "", "mysql://u@h/db", "postgresql://h/db?nosuchoption=1",
                                 "host=h dbname"])  # fmt: skip
def test_bad_dsn_is_a_config_error_that_names_the_field(bad):
    with pytest.raises(ConfigError) as err:
        ObservabilityConfig(audit_storage_backend="postgresql", audit_dsn=bad)
    assert err.value.field == "audit_dsn"


def test_config_error_never_shows_the_password():
    with pytest.raises(ConfigError) as err:
        ObservabilityConfig(audit_storage_backend="postgresql",
                            audit_dsn="postgresql://u:hunter2@h/db?nosuchoption=1")  # fmt: skip
    assert "hunter2" not in str(err.value)


def test_unreachable_database_at_start_spills_and_degrades_not_raises(tmp_path):
    status = StatusBoard()
    store = _store("postgresql://aga:pw-xyz@127.0.0.1:1/db", tmp_path, connect_timeout=1)
    writer = AuditWriter(store, status, batch_size=10, retention_days=None)
    for rec in _records(25):
        writer.submit(rec)
    assert writer.flush()  # held durably on disk: nothing waits in memory
    state = status.get("audit")
    assert state.status is Status.DEGRADED and "unreachable" in state.detail
    assert state.extra["spill_pending"] == 25 and writer.stats()["degraded"]
    assert "pw-xyz" not in json.dumps(status.snapshot()) + json.dumps(writer.stats())
    assert (tmp_path / "i1.jsonl").stat().st_size > 0


# --- chains, queries, retention -------------------------------------------------------
def test_per_instance_chains_queries_and_retention(dsn, tmp_path):
    a, b = _store(dsn, tmp_path, "a"), _store(dsn, tmp_path, "b")
    for i in range(0, 40, 10):  # interleaved batches of two instances
        a.append(_records(10, 1_000 + i))
        b.append(_records(10, 1_000 + i, op="unregister"))
    assert a.count() == 80 and a.count("a") == 40 and a.last_seq == 40
    report = a.verify()
    assert report.ok and report.checked == 80, report.as_dict()
    assert a.verify("b").checked == 40
    got = a.query(fact_id="k7")
    assert {(e["instance"], e["details"]["n"]) for e in got} == {("a", 7), ("b", 7)}
    assert [e["seq"] for e in a.query(instance="b", limit=3)] == [40, 39, 38]
    assert {e["operation"] for e in a.query(operation="unregister", limit=500)} == {"unregister"}
    assert len(a.query(since=1_030, until=1_034.5)) == 10
    plan = _sql(dsn, "EXPLAIN SELECT * FROM aga_audit_log WHERE fact_id = 'k7' ORDER BY ts")
    assert "aga_audit_fact_ts" in str(plan) or "Seq Scan" in str(plan)  # tiny tables may scan

    assert a.prune(1_020) == 40  # 20 oldest of each chain
    report = b.verify()
    assert report.ok and report.checked == 40, report.as_dict()
    a.append(_records(5, 2_000))  # the chain continues after pruning
    assert a.verify("a").ok and a.query(instance="a", limit=1)[0]["seq"] == 45
    versions = _sql(dsn, "SELECT version FROM aga_audit_schema")
    assert versions == [(1,)]


def test_tampering_is_detected_per_instance(dsn, tmp_path):
    store = _store(dsn, tmp_path, "a")
    store.append(_records(20))
    _store(dsn, tmp_path, "b").append(_records(20))
    assert store.verify().ok
    _sql(dsn, "UPDATE aga_audit_log SET details = '{\"id\":\"forged\"}' "
              "WHERE instance = 'b' AND seq = 7")  # fmt: skip
    report = store.verify()
    assert not report.ok and report.problem == "edited" and report.seq == 7
    assert "instance b" in report.detail and store.verify("a").ok
    _sql(dsn, "DELETE FROM aga_audit_log WHERE instance = 'a' AND seq = 20")
    report = store.verify("a")
    assert not report.ok and report.problem == "deleted" and report.seq == 20
    _sql(dsn, "DELETE FROM aga_audit_log WHERE instance = 'b'")  # a whole chain removed
    report = store.verify("b")
    assert not report.ok and report.problem == "deleted" and report.seq == 1


# --- outage: spill and replay ---------------------------------------------------------
def test_server_stopped_and_restarted_mid_stream_loses_nothing(server, dsn, tmp_path, caplog):
    caplog.set_level(logging.WARNING)
    status = StatusBoard()
    store = _store(dsn, tmp_path, retry_interval=0.05, connect_timeout=2)
    writer = AuditWriter(store, status, batch_size=20, flush_interval=0.02, retention_days=None)
    writer.start()
    total, sent = 1500, 0

    def produce(upto: int) -> None:
        nonlocal sent
        while sent < upto:
            writer.submit(make_record(float(sent), "register", True, None, {"id": f"k{sent}"}))
            sent += 1
            if sent % 50 == 0:
                time.sleep(0.002)

    produce(500)
    _wait(lambda: writer.stats()["written"] >= 200)
    server.stop()
    try:
        produce(1000)  # records keep coming while the database is down
        _wait(lambda: status.get("audit").status is Status.DEGRADED)
        _wait(lambda: writer.stats()["backlog"] == 0 and store.held() > 0)
        snapshot = json.dumps(status.snapshot())
        assert "unreachable" in snapshot and PASSWORD not in snapshot
    finally:
        server.start()
    produce(total)
    assert writer.shutdown(10)
    assert store.held() == 0 and status.get("audit").status is Status.HEALTHY
    rows = _sql(dsn, "SELECT seq, ts FROM aga_audit_log ORDER BY seq")
    assert len(rows) == total
    assert [ts for _, ts in rows] == [float(i) for i in range(total)]  # replayed in order
    assert store.verify().ok
    assert writer.stats()["spill_replayed"] > 0 and writer.stats()["spill_overflowed"] == 0
    assert "unreachable" in caplog.text and "reachable again" in caplog.text
    assert PASSWORD not in caplog.text


def test_spill_overflow_is_counted_and_logged(tmp_path, caplog):
    store = _store("postgresql://aga@127.0.0.1:1/db", tmp_path, spill_max_bytes=4096)
    store.append(_records(200))
    stats = store.stats()
    assert 0 < stats["spill_pending"] < 200
    assert stats["spill_pending"] + stats["spill_overflowed"] == 200
    assert "spill" in caplog.text and "full" in caplog.text


def test_replay_interrupted_after_commit_never_duplicates(server, dsn, tmp_path, monkeypatch):
    from aga_otel.audit import spill as spill_module

    def crash(self, count, end):  # the process dies between the commit and the ack
        raise KeyboardInterrupt

    def replay_and_crash() -> None:
        with monkeypatch.context() as m:
            m.setattr(spill_module.Spill, "consume", crash)
            with pytest.raises(KeyboardInterrupt):
                _store(dsn, tmp_path).append([])

    unreachable = "postgresql://aga@127.0.0.1:1/db"
    _store(unreachable, tmp_path).append(_records(30))  # spilled to tmp_path/i1.jsonl
    replay_and_crash()  # lines 0..29 stored, the spill file still holds them
    _store(unreachable, tmp_path).append(_records(10, 2_000))  # another outage: lines 30..39
    replay_and_crash()  # lines 30..39 stored, 0..29 skipped
    replay_and_crash()  # everything skipped
    again = _store(dsn, tmp_path)  # a new process finds the spill file again
    again.append(_records(5, 5_000))
    assert again.count() == 45 and again.verify().ok and again.held() == 0
    stamps = [e["timestamp"] for e in again.iter_entries()]
    assert stamps == [1_000.0 + i for i in range(30)] + [2_000.0 + i for i in range(10)] + [
        5_000.0 + i for i in range(5)
    ]


def test_spill_survives_a_torn_last_line_and_keeps_a_damaged_one_on_record(tmp_path, caplog):
    from aga_otel.audit.spill import Spill

    path = tmp_path / "x.jsonl"
    Spill(path, 1 << 20).add(_records(3))
    lines = path.read_bytes().splitlines(keepends=True)
    path.write_bytes(b"".join([*lines[:2], b"{damaged\n", *lines[2:], b'[1.0,"torn']))
    spill = Spill(path, 1 << 20)  # a new process opens what the crashed one left
    records, first, end = spill.peek(10)
    assert (first, spill.pending) == (0, 4) and "torn" in caplog.text
    assert [r.operation for r in records] == ["register", "aga_otel.spill_corrupt", "register",
                                              "register"]  # fmt: skip
    spill.consume(len(records), end)
    assert spill.pending == 0 and not path.exists()


ORPHAN = textwrap.dedent("""
    import sys
    from aga_otel.audit import open_store
    from aga_otel.audit.chain import make_record

    store = open_store("postgresql", "postgresql://aga@127.0.0.1:1/db", instance="gone",
                       spill_path=sys.argv[1])
    store.append([make_record(1000.0 + i, "register", True, None, {"id": i}) for i in range(20)])
    # exits with its records in the spill: the database never came back for it
""")


def test_spill_of_an_exited_process_is_replayed_into_its_own_chain(dsn, tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    subprocess.run([sys.executable, "-c", ORPHAN, str(tmp_path / "gone.jsonl")], env=env,
                   check=True, timeout=60)  # fmt: skip
    alive = _store("postgresql://aga@127.0.0.1:1/db", tmp_path, "alive")
    alive.append(_records(5))  # a live process's spill: locked, never taken over
    new = _store(dsn, tmp_path, "new")
    new.append(_records(3))
    counts = dict(_sql(dsn, "SELECT instance, COUNT(*) FROM aga_audit_log GROUP BY instance"))
    assert counts == {"gone": 20, "new": 3}
    assert new.verify().ok and new.verify("gone").checked == 20
    assert not (tmp_path / "gone.jsonl").exists() and alive.held() == 5


# --- many processes, the full stack ----------------------------------------------------
WORKER = textwrap.dedent("""
    import sys, time
    from aga_otel import ObservabilityConfig
    from aga_otel.contract import EventBus
    from aga_otel.stack import ObservabilityStack

    dsn, spill, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
    cfg = ObservabilityConfig(audit_storage_backend="postgresql", audit_dsn=dsn,
                              audit_spill_dir=spill, prometheus_enabled=False,
                              health_enabled=False, log_enabled=False)
    bus = EventBus()
    stack = ObservabilityStack(bus, cfg, env={}).start()
    for i in range(n):
        bus.emit("audit", {"operation": "register", "details": {"id": f"k{i}"},
                           "success": True, "error": None, "timestamp": time.time()})
    stack.shutdown()
    print(stack.instance_id)
""")


def test_four_processes_write_concurrently_with_exact_counts(dsn, tmp_path):
    n = 400
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env = {k: v for k, v in env.items() if not k.startswith("OTEL_")}
    procs = [subprocess.Popen([sys.executable, "-c", WORKER, dsn, str(tmp_path), str(n)],
                              env=env, stdout=subprocess.PIPE, text=True)
             for _ in range(4)]  # fmt: skip
    ids = [p.communicate(timeout=120)[0].strip() for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0, 0]
    store = open_store("postgresql", dsn, read_only=True)
    counts = dict(_sql(dsn, "SELECT instance, COUNT(*) FROM aga_audit_log GROUP BY instance"))
    assert counts == {i: n for i in ids}
    report = store.verify()
    assert report.ok and report.checked == 4 * n, report.as_dict()
    assert "4 instance chain(s)" in report.notes[0]
    for i in ids:
        assert store.verify(i).checked == n
    assert not list(tmp_path.glob("*.jsonl"))  # nothing was left in a spill


def test_full_stack_writes_degrades_and_recovers_without_showing_the_password(
    server, dsn, tmp_path, make_stack, plugin
):
    cfg = local_config(audit_storage_backend="postgresql", audit_dsn=dsn, health_enabled=True,
                       log_enabled=True, alert_enabled=True, audit_spill_dir=str(tmp_path))  # fmt: skip
    stack = make_stack(plugin.event_bus, cfg)
    health = health_of(stack)

    def emit(n: int) -> None:
        for i in range(n):
            plugin.event_bus.emit("audit", {"operation": "register", "details": {"id": f"k{i}"},
                                            "success": True, "error": None,
                                            "timestamp": time.time()})  # fmt: skip

    def flush() -> bool:
        # events through the bridge, the audit writer's backlog, then a fresh health report
        done = stack.force_flush() and stack.log_exporter.flush()
        return stack.force_flush() and done

    def shown() -> str:
        flush()
        return json.dumps(get(health.port, "/health?verbose")[1]) + json.dumps(
            stack.get_stats(), default=str
        )

    emit(30)
    text = shown()
    assert PASSWORD not in text and "postgresql://aga@127.0.0.1" in text
    assert stack.audit_storage.count(stack.instance_id) == 30
    server.stop()
    try:
        emit(30)
        text = shown()
        assert PASSWORD not in text and "unreachable" in text
        assert stack.status.get("audit").status is Status.DEGRADED
        assert get(health.port, "/readyz")[0] == 200  # a database outage keeps pods serving
        audit = get(health.port, "/health?verbose")[1]["checks"]["audit"]
        assert audit["status"] == "degraded" and audit["data"]["spill_pending"] == 30
        assert audit["data"]["database"].startswith(f"postgresql://127.0.0.1:{server.port}/")
    finally:
        server.start()
    emit(30)
    _wait(lambda: flush() and stack.audit_storage.held() == 0)
    assert stack.audit_storage.count(stack.instance_id) == 90
    assert stack.audit_storage.verify(stack.instance_id).ok
    assert stack.status.get("audit").status is Status.HEALTHY


# --- the CLI --------------------------------------------------------------------------
def test_cli_query_export_verify_prune_on_a_postgresql_url(dsn, tmp_path, capsys):
    _store(dsn, tmp_path, "a").append(_records(10))
    _store(dsn, tmp_path, "b").append(_records(10))
    assert audit_cli(["query", dsn, "--limit", "3", "--epoch"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert len(rows) == 3 and rows[0]["timestamp"] == 1_009
    assert audit_cli(["query", dsn, "--fact-id", "k4", "--instance", "b"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [(r["instance"], r["details"]["id"]) for r in rows] == [("b", "k4")]
    sqlite = tmp_path / "local.db"
    open_store("sqlite", sqlite).append(_records(2))
    assert audit_cli(["query", str(sqlite), "--instance", "b"]) == 2  # a fleet-only filter
    out = tmp_path / "all.jsonl"
    assert audit_cli(["export", dsn, "--format", "jsonl", "-o", str(out)]) == 0
    assert len(out.read_text().splitlines()) == 20
    assert audit_cli(["verify", dsn]) == 0
    assert "OK: 20 entries verified" in capsys.readouterr().out
    assert audit_cli(["prune", dsn, "--before", "1005"]) == 0
    assert json.loads(capsys.readouterr().out)["pruned"] == 10
    assert audit_cli(["verify", dsn, "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["checked"] == 10
    _sql(dsn, "UPDATE aga_audit_log SET operation = 'forged' WHERE seq = 8")
    assert audit_cli(["verify", dsn]) == 1
    assert "BROKEN" in capsys.readouterr().out
    assert audit_cli(["verify", dsn.replace(PASSWORD, "wrong")]) == 2
    assert "wrong" not in capsys.readouterr().err


def _wait(cond, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            pytest.fail("condition not reached in time")
        time.sleep(0.02)


def test_bundled_compose_stack_writes_its_audit_trail_to_its_postgres_service():
    import yaml

    compose = yaml.safe_load((ROOT / "collector" / "docker-compose.yml").read_text())["services"]
    demo, db = compose["aga-demo"], compose["postgres"]
    path = demo["command"][demo["command"].index("--config") + 1]
    host_file = next(v.split(":")[0] for v in demo["volumes"] if v.split(":")[1] == path)
    cfg = ObservabilityConfig.from_dict(
        yaml.safe_load((ROOT / "collector" / host_file).read_text())
    )
    assert cfg.audit_storage_backend == "postgresql"
    info = psycopg.conninfo.conninfo_to_dict(cfg.audit_dsn)
    assert info["host"] == "postgres" and "password" not in info
    assert (info["user"], info["dbname"]) == (db["environment"]["POSTGRES_USER"],
                                              db["environment"]["POSTGRES_DB"])  # fmt: skip
    assert demo["environment"]["PGPASSWORD"] == db["environment"]["POSTGRES_PASSWORD"]
    assert "postgres" in demo["depends_on"]
