"""A real subprocess writing the audit trail is SIGKILLed; the store stays intact."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from aga_otel.audit import open_store

ROOT = Path(__file__).resolve().parents[1]

WRITER = textwrap.dedent("""
    import sys, time
    from aga_otel.audit import open_store, AuditWriter
    from aga_otel.audit.chain import make_record
    from aga_otel.status import StatusBoard

    backend, path = sys.argv[1], sys.argv[2]
    writer = AuditWriter(open_store(backend, path), StatusBoard(), batch_size=50,
                         flush_interval=0.01, retention_days=None)
    writer.start()
    i = 0
    while True:  # until SIGKILL
        writer.submit(make_record(time.time(), "register", True, None,
                                  {"id": f"k{i}", "blob": "x" * (i % 3000)}))
        i += 1
        if i % 50 == 0:
            time.sleep(0.001)
""")


@pytest.mark.parametrize("backend,name", [("sqlite", "audit.db"), ("file", "audit.jsonl")])
def test_sigkill_mid_write_leaves_a_verifiable_store(backend, name, tmp_path):
    path = tmp_path / name
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-c", WRITER, backend, str(path)], env=env)
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if path.exists() and path.stat().st_size > 2_000_000:
                break
            time.sleep(0.05)
        else:
            pytest.fail("writer subprocess produced no audit data")
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)

    reader = open_store(backend, path, read_only=True)
    report = reader.verify()
    assert report.ok, report.as_dict()
    written = report.checked
    assert written >= 50 and reader.query(limit=1)[0]["seq"] == written

    store = open_store(backend, path)  # a restarted process continues the same chain
    store.append([store_record()])
    after = store.verify()
    assert after.ok and after.checked == written + 1 and not after.torn_tail


def store_record():
    from aga_otel.audit.chain import make_record

    return make_record(time.time(), "attach", True, None, {"model_type": "sim"})
