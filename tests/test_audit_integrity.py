"""Issue 14 item 9: what each audit integrity mode detects, shown on files on disk.

The stores are written by a real stack from events on the bus; the attacks edit the
files directly (recomputing hashes as an attacker who knows the algorithm would); the
verdicts come from the ``aga-otel audit verify`` command.
"""

from __future__ import annotations

import json
import sqlite3
import time

import pytest
from conftest import local_config

from aga_otel.audit.chain import GENESIS_HASH, entry_hash, record_of
from aga_otel.cli import main
from aga_otel.contract import EventBus

KEY = b"k" * 24 + b"-audit-key-material"


def write_store(tmp_path, make_stack, name: str, n: int = 10, **config) -> str:
    bus = EventBus()
    path = str(tmp_path / name)
    backend = "sqlite" if name.endswith(".db") else "file"
    stack = make_stack(
        bus,
        local_config(audit_storage_backend=backend, audit_storage_path=path, **config),
    )
    for i in range(n):
        bus.emit("audit", {"operation": "register", "details": {"id": f"k{i}"},
                           "success": True, "timestamp": time.time()})  # fmt: skip
    stack.shutdown(timeout=5)
    return path


def verify(capsys, path: str, *extra: str) -> tuple[int, str]:
    code = main(["audit", "verify", path, *extra])
    out, err = capsys.readouterr()
    return code, out + err


def rechain_sqlite(
    path: str, key: bytes | None = None, edit_seq: int | None = None, fix_head: bool = True
) -> None:
    """The attacker's tool: optionally edit one entry, recompute every hash, fix the head."""
    conn = sqlite3.connect(path)
    rows = conn.execute(
        "SELECT seq, ts, operation, success, error, details, source FROM audit_log ORDER BY seq"
    ).fetchall()
    prev = GENESIS_HASH
    for seq, ts, op, ok, err, details, source in rows:
        if seq == edit_seq:
            details = json.dumps({"id": "forged"}, separators=(",", ":"))
        rec = record_of({"timestamp": ts, "operation": op, "success": ok, "error": err,
                         "details": details, "source": source})  # fmt: skip
        h = entry_hash(prev, seq, rec, key)
        conn.execute(
            "UPDATE audit_log SET details=?, prev_hash=?, hash=? WHERE seq=?",
            (details, prev, h, seq),
        )
        prev = h
    if fix_head:
        conn.execute("UPDATE audit_meta SET seq=?, hash=? WHERE key='head'", (rows[-1][0], prev))
    conn.commit()
    conn.close()


@pytest.fixture
def key_file(tmp_path):
    path = tmp_path / "audit.key"
    path.write_bytes(KEY + b"\n")
    return str(path)


def test_unkeyed_chain_is_rewritable_keyed_is_not(tmp_path, make_stack, capsys, key_file):
    plain = write_store(tmp_path, make_stack, "plain.db")
    rechain_sqlite(plain, edit_seq=5)
    code, out = verify(capsys, plain)
    assert code == 0  # the documented limit of the unkeyed mode: a rewrite verifies

    keyed = write_store(tmp_path, make_stack, "keyed.db", audit_hmac_key_file=key_file)
    assert verify(capsys, keyed, "--key-file", key_file)[0] == 0
    rechain_sqlite(keyed, edit_seq=5, fix_head=False)  # recomputed without the key
    code, out = verify(capsys, keyed, "--key-file", key_file)
    assert code == 1 and "BROKEN: entry 1 edited (content does not match its hash)" in out
    rechain_sqlite(keyed, edit_seq=5)  # and the head rewritten to match
    code, out = verify(capsys, keyed, "--key-file", key_file)
    assert code == 1 and "does not match its seal" in out


def test_keyed_store_detects_deleted_newest_rows_and_stripped_keying(
    tmp_path, make_stack, capsys, key_file
):
    path = write_store(tmp_path, make_stack, "keyed.db", audit_hmac_key_file=key_file)
    conn = sqlite3.connect(path)
    conn.execute("DELETE FROM audit_log WHERE seq > 7")
    last = conn.execute("SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1").fetchone()
    conn.execute("UPDATE audit_meta SET seq=?, hash=? WHERE key='head'", last)
    conn.commit()
    code, out = verify(capsys, path, "--key-file", key_file)
    assert code == 1 and "does not match its seal" in out

    conn.execute("DELETE FROM audit_meta WHERE key IN ('keyed', 'seal')")
    conn.commit()
    conn.close()
    rechain_sqlite(path)  # a plain SHA-256 chain now, internally consistent
    assert verify(capsys, path)[0] == 0  # without the key nothing can tell...
    code, out = verify(capsys, path, "--key-file", key_file)
    assert code == 1 and "not_keyed" in out  # ...with it, the downgrade shows


def test_keyed_store_needs_its_key(tmp_path, make_stack, capsys, key_file, monkeypatch):
    path = write_store(tmp_path, make_stack, "keyed.jsonl", audit_hmac_key_file=key_file)
    code, out = verify(capsys, path)
    assert code == 2 and "UNVERIFIED: entries from 1 on are HMAC-keyed" in out
    other = tmp_path / "other.key"
    other.write_bytes(b"another-key-of-enough-length")
    code, out = verify(capsys, path, "--key-file", str(other))
    assert code == 2 and "keyed with key id" in out
    monkeypatch.setenv("AUDIT_KEY", KEY.decode())
    code, out = verify(capsys, path, "--key-env", "AUDIT_KEY")
    assert code == 0 and "OK: 10 entries verified, HMAC-keyed from entry 1" in out
    for f in tmp_path.iterdir():  # the key is never stored with the trail
        if f.name.startswith("keyed.jsonl"):
            assert KEY not in f.read_bytes(), f.name


def test_key_from_environment_variable(tmp_path, make_stack, capsys, monkeypatch):
    monkeypatch.setenv("AGA_AUDIT_KEY", KEY.decode())
    path = write_store(tmp_path, make_stack, "env.db", audit_hmac_key_env="AGA_AUDIT_KEY")
    code, out = verify(capsys, path, "--key-env", "AGA_AUDIT_KEY")
    assert code == 0 and "HMAC-keyed from entry 1" in out


def lines_of(path: str) -> list[bytes]:
    with open(path, "rb") as f:
        return f.read().splitlines(keepends=True)


@pytest.mark.parametrize("keep", [7, 0])
def test_jsonl_deleting_newest_lines_is_detected(tmp_path, make_stack, capsys, keep):
    path = write_store(tmp_path, make_stack, "a.jsonl")
    lines = lines_of(path)
    with open(path, "wb") as f:
        f.writelines(lines[:keep])
    code, out = verify(capsys, path)
    assert code == 1 and f"entries {keep + 1}..10 missing" in out


def test_jsonl_truncated_last_line_is_not_taken_for_a_crash(tmp_path, make_stack, capsys):
    path = write_store(tmp_path, make_stack, "a.jsonl")
    data = b"".join(lines_of(path))
    with open(path, "wb") as f:
        f.write(data[:-40])  # cut inside the last entry, which the head records
    code, out = verify(capsys, path)
    assert code == 1 and "entries 10..10 missing" in out


def test_jsonl_crash_artefact_beyond_the_head_is_still_benign(tmp_path, make_stack, capsys):
    path = write_store(tmp_path, make_stack, "a.jsonl")
    with open(path, "ab") as f:
        f.write(b'{"seq":11,"timestamp":1.0,"oper')  # SIGKILL mid-write of a new batch
    code, out = verify(capsys, path)
    assert code == 0 and "crash mid-write" in out


def test_writer_refuses_to_append_to_a_truncated_store(tmp_path, make_stack):
    path = write_store(tmp_path, make_stack, "a.jsonl")
    lines = lines_of(path)
    with open(path, "wb") as f:
        f.writelines(lines[:5])
    bus = EventBus()
    stack = make_stack(
        bus,
        local_config(audit_storage_backend="file", audit_storage_path=path,
                     audit_flush_interval=0.05),
    )  # fmt: skip
    bus.emit("audit", {"operation": "clear", "success": True, "timestamp": time.time()})
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        state = stack.get_stats()["components"].get("audit", {})
        if state.get("status") != "healthy":
            break
        time.sleep(0.05)
    assert "entries were deleted or truncated; refusing to append" in state["detail"]
    assert len(lines_of(path)) == 5  # the evidence is left as it was


def test_keyed_store_is_never_pruned_or_appended_without_its_key(
    tmp_path, make_stack, capsys, key_file
):
    path = write_store(tmp_path, make_stack, "keyed.db", audit_hmac_key_file=key_file)
    later = str(time.time() + 60)  # every entry is older
    code = main(["audit", "prune", path, "--before", later])
    err = capsys.readouterr().err
    assert code == 2 and "keyed (HMAC); appending needs its key" in err
    assert main(["audit", "prune", path, "--before", later, "--key-file", key_file]) == 0
    capsys.readouterr()
    code, out = verify(capsys, path, "--key-file", key_file)
    assert code == 0 and "OK: 0 entries verified" in out
    assert "after prune anchor at sequence 10" in out


@pytest.mark.parametrize("keyed", [False, True])
def test_forged_prune_anchor(tmp_path, make_stack, capsys, key_file, keyed):
    config = {"audit_hmac_key_file": key_file} if keyed else {}
    path = write_store(tmp_path, make_stack, "a.db", **config)
    conn = sqlite3.connect(path)
    anchor = conn.execute("SELECT seq, hash FROM audit_log WHERE seq = 3").fetchone()
    conn.execute("DELETE FROM audit_log WHERE seq <= 3")  # the oldest entries, gone...
    conn.execute("INSERT OR REPLACE INTO audit_meta VALUES ('anchor', ?, ?)", anchor)
    conn.commit()  # ...as if retention had pruned them
    conn.close()
    code, out = verify(capsys, path, *(["--key-file", key_file] if keyed else []))
    if keyed:
        assert code == 1 and "does not match its seal" in out
    else:  # the documented limit of the unkeyed mode
        assert code == 0 and "after prune anchor at sequence 3" in out
