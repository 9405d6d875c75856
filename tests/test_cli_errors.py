"""Issue 14 item 14: the CLI refuses bad input with a clear message and the conventional
exit code (0 ok, 1 negative answer, 2 trouble, 141 closed pipe)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from datetime import datetime, timezone

import pytest

from aga_otel.audit import open_store
from aga_otel.audit.chain import make_record
from aga_otel.cli import main

CMD = [sys.executable, "-m", "aga_otel"]
NOW = time.time()


def run(capsys, *argv: str) -> tuple[int, str, str]:
    try:
        code = main(list(argv))
    except SystemExit as exc:  # argparse's own usage errors
        code = exc.code
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def store(tmp_path):
    """A SQLite store: 10 entries a day old, 10 from the last 10 minutes."""
    path = tmp_path / "audit.db"
    s = open_store("sqlite", path)
    old = [make_record(NOW - 86400 + i, "register", True, None, {"i": i}) for i in range(10)]
    new = [make_record(NOW - 600 + i, "clear", True, None, {"i": i}) for i in range(10)]
    s.append(old + new)
    s.close()
    return path


@pytest.mark.parametrize("days", ["-5", "0", "nan", "inf", "soon"])
def test_prune_rejects_non_positive_age(capsys, store, days):
    code, _, err = run(capsys, "audit", "prune", str(store), "--older-than-days", days)
    assert code == 2 and "--older-than-days: must be a number > 0" in err
    assert open_store("sqlite", store).count() == 20


def test_prune_dry_run_counts_and_deletes_nothing(capsys, store):
    code, out, _ = run(
        capsys, "audit", "prune", str(store), "--older-than-days", "0.5", "--dry-run"
    )
    assert code == 0 and json.loads(out)["would_prune"] == 10
    assert open_store("sqlite", store).count() == 20
    code, out, _ = run(capsys, "audit", "prune", str(store), "--older-than-days", "0.5")
    assert code == 0 and json.loads(out)["pruned"] == 10
    assert open_store("sqlite", store).count() == 10


@pytest.mark.parametrize("command", ["verify", "query", "export", "prune"])
def test_missing_store_is_a_clear_error_and_nothing_is_created(capsys, tmp_path, command):
    path = tmp_path / "nonexistent.db"
    extra = ["--before", "1h"] if command == "prune" else []
    code, out, err = run(capsys, "audit", command, str(path), *extra)
    assert code == 2 and out == ""
    assert err.strip() == f"aga-otel audit: no audit store at {path}: no such file"
    assert not path.exists()


@pytest.mark.parametrize(
    ("name", "content"),
    [("config.yaml", b"prometheus_port: 9464\nlog_level: INFO\n"), ("empty.db", None)],
)
def test_foreign_file_is_refused(capsys, tmp_path, name, content):
    path = tmp_path / name
    if content is None:  # a SQLite database of something else
        import sqlite3

        sqlite3.connect(path).execute("CREATE TABLE t (x)").connection.commit()
    else:
        path.write_bytes(content)
    code, out, err = run(capsys, "audit", "query", str(path))
    assert code == 2 and out == ""
    assert "is not an audit store" in err or "without an audit_log table" in err


@pytest.mark.parametrize(
    ("since", "expected"),
    [
        ("1h", 10),
        ("30m", 10),
        ("2d", 20),
        (datetime.fromtimestamp(NOW - 3600, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"), 10),
        (datetime.fromtimestamp(NOW - 3600).isoformat(timespec="seconds"), 10),  # local time
        (str(NOW - 3600), 10),
    ],
)
def test_since_takes_durations_iso_and_epoch(capsys, store, since, expected):
    code, out, _ = run(capsys, "audit", "query", str(store), "--since", since, "--limit", "100")
    assert code == 0 and len(json.loads(out)) == expected


def test_bad_since_names_the_accepted_forms(capsys, store):
    code, _, err = run(capsys, "audit", "query", str(store), "--since", "yesterday")
    assert code == 2 and "ISO-8601" in err and "1h" in err


def test_broken_pipe_ends_quietly(tmp_path):
    path = tmp_path / "big.jsonl"
    s = open_store("file", path)
    s.append([make_record(NOW, "register", True, None, {"pad": "x" * 200}) for _ in range(2000)])
    s.close()
    proc = subprocess.Popen(
        [*CMD, "audit", "export", str(path), "--format", "jsonl"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdout.readline().startswith(b"{")
    proc.stdout.close()  # what `| head -1` does
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=60) == 141
    assert err == ""


def test_demo_tracing_without_otlp_warns():
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    out = subprocess.run(
        [*CMD, "demo", "--tracing", "--duration", "0.2", "--quiet",
         "--prometheus-port", "0", "--health-port", "0"],
        capture_output=True, text=True, timeout=60, env=env,
    )  # fmt: skip
    assert out.returncode == 0
    assert "--tracing creates spans but nothing exports them" in out.stderr


HELP_PATHS = [
    [], ["demo"], ["audit"], ["audit", "query"], ["audit", "export"], ["audit", "verify"],
    ["audit", "prune"], ["dashboards"],
]  # fmt: skip


@pytest.mark.parametrize("path", HELP_PATHS, ids=lambda p: " ".join(p) or "top")
def test_help_has_no_markup(capsys, path):
    code, out, _ = run(capsys, *path, "--help")
    assert code == 0 and "usage: aga-otel" in out
    for markup in ("``", ":func:", ":class:", ":mod:"):
        assert markup not in out, out


def test_help_names_only_real_commands(capsys):
    _, out, _ = run(capsys, "--help")
    commands = ("demo", "audit", "dashboards", "rules")
    listed = {
        line.split()[0] for line in out.splitlines() if line.startswith("    ") and line[4] != " "
    }
    assert listed == set(commands), out
    for command in commands:  # each one it names answers its own --help
        assert run(capsys, command, "--help")[0] == 0
    code, _, err = run(capsys, "made-up")
    assert code == 2 and "invalid choice" in err


# --- issue 27: output a person reads ------------------------------------------------------
def test_query_shows_iso_timestamps_unless_epoch(capsys, store):
    code, out, _ = run(capsys, "audit", "query", str(store), "--limit", "1")
    (row,) = json.loads(out)
    assert code == 0 and row["timestamp"].endswith("Z")
    parsed = datetime.fromisoformat(row["timestamp"].replace("Z", "+00:00")).timestamp()
    code, out, _ = run(capsys, "audit", "query", str(store), "--limit", "1", "--epoch")
    (raw,) = json.loads(out)
    assert abs(raw["timestamp"] - parsed) < 1e-5 and isinstance(raw["timestamp"], float)


@pytest.mark.parametrize("backend", ["sqlite", "file"])
def test_fact_id_filters_local_stores(capsys, tmp_path, backend):
    path = tmp_path / f"audit.{backend}"
    s = open_store(backend, path)
    s.append([make_record(NOW + i, "register", True, None, {"id": f"k{i % 3}"}) for i in range(9)])
    s.close()
    code, out, err = run(capsys, "audit", "query", str(path), "--fact-id", "k1", "--limit", "2")
    rows = json.loads(out)
    assert code == 0, err
    assert [r["details"]["id"] for r in rows] == ["k1", "k1"] and rows[0]["seq"] > rows[1]["seq"]


def test_export_confirms_and_path_errors_are_clear(capsys, store, tmp_path):
    out_file = tmp_path / "out.jsonl"
    code, out, err = run(capsys, "audit", "export", str(store), "--format", "jsonl", "-o",
                         str(out_file))  # fmt: skip
    assert code == 0 and out == ""
    assert err.strip() == f"exported 20 entries to {out_file} (jsonl)"
    for target, says in ((tmp_path, "it is a directory"),
                         (tmp_path / "no" / "x.json", "is not a directory")):  # fmt: skip
        code, _, err = run(capsys, "audit", "export", str(store), "-o", str(target))
        assert code == 2 and says in err and "Errno" not in err, err
