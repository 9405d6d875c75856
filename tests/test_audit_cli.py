"""``aga-otel audit`` subcommands on real SQLite and JSONL files."""

from __future__ import annotations

import argparse
import csv
import io
import json
import sqlite3
import subprocess
import sys
import time
from contextlib import redirect_stdout
from pathlib import Path

import pytest

from aga_otel.audit import open_store
from aga_otel.audit.chain import make_record
from aga_otel.audit.cli import add_parser

ROOT = Path(__file__).resolve().parents[1]
NOW = time.time()


def run(*argv: str) -> tuple[int, str]:
    parser = argparse.ArgumentParser(prog="aga-otel")
    add_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["audit", *argv])
    out = io.StringIO()
    with redirect_stdout(out):
        code = args.func(args)
    return code, out.getvalue()


@pytest.fixture(params=[("sqlite", "audit.db"), ("file", "audit.jsonl")])
def store_path(request, tmp_path):
    backend, name = request.param
    path = tmp_path / name
    store = open_store(backend, path)
    store.append(
        [
            make_record(
                NOW - 100 + i,
                ("register", "clear")[i % 2],
                i % 3 != 0,
                None,
                {"id": f"k{i}", "n": i},
            )
            for i in range(30)
        ]
    )
    store.close()
    return path


def test_query_json_and_csv(store_path):
    code, out = run(
        "query", str(store_path), "--operation", "clear", "--success", "true", "--limit", "3"
    )
    rows = json.loads(out)
    assert code == 0 and [r["seq"] for r in rows] == [30, 26, 24]
    assert all(r["operation"] == "clear" and r["success"] for r in rows) and len(rows) == 3
    code, out = run("query", str(store_path), "--since", str(NOW - 80), "--format", "csv")
    table = list(csv.DictReader(io.StringIO(out)))
    assert code == 0 and len(table) == 10 and table[0]["seq"] == "30"
    assert json.loads(table[0]["details"]) == {"id": "k29", "n": 29}


def test_export_and_verify_ok(store_path, tmp_path):
    out_file = tmp_path / "export.jsonl"
    assert run("export", str(store_path), "--format", "jsonl", "-o", str(out_file))[0] == 0
    exported = [json.loads(line) for line in out_file.read_text().splitlines()]
    assert [e["seq"] for e in exported] == list(range(1, 31))
    code, out = run("verify", str(store_path))
    assert code == 0 and out.startswith("OK: 30 entries verified")


def test_prune_then_verify(store_path):
    code, out = run("prune", str(store_path), "--before", str(NOW - 90))
    assert code == 0 and json.loads(out)["pruned"] == 10
    code, out = run("verify", str(store_path), "--format", "json")
    report = json.loads(out)
    assert code == 0 and report["ok"] and report["anchor"]["seq"] == 10


def test_verify_exits_nonzero_on_tampering_sqlite(tmp_path):
    path = tmp_path / "audit.db"
    store = open_store("sqlite", path)
    store.append([make_record(NOW + i, "register", True, None, {"i": i}) for i in range(5)])
    store.close()
    conn = sqlite3.connect(path)
    with conn:
        conn.execute("UPDATE audit_log SET details = '{\"i\":99}' WHERE seq = 3")
    conn.close()
    code, out = run("verify", str(path))
    assert code == 1 and out.startswith("BROKEN: entry 3 edited")


def test_subprocess_entry_point_and_missing_file(tmp_path):
    path = tmp_path / "audit.jsonl"
    store = open_store("file", path)
    store.append([make_record(NOW, "register", True, None, {})])
    store.close()
    lines = path.read_bytes().splitlines(keepends=True)
    path.write_bytes(lines[0].replace(b'"register"', b'"unregister"'))
    proc = subprocess.run(
        [sys.executable, "-m", "aga_otel.audit.cli", "verify", str(path)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
    )
    assert proc.returncode == 1 and "entry 1 edited" in proc.stdout
    assert run("query", str(tmp_path / "nope.db"))[0] == 2
