"""Issue 27: every accepted audit record is written or counted, with its reason, in
``aga_otel_events_dropped_total`` and in the demo's summary; ``/readyz`` tells the truth about
an unwritable store. The stores are real files made unwritable for real (a file where a
directory must be, a directory where a file must be: root cannot write there either)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from conftest import get_json, http_request, local_config
from prometheus_client.parser import text_string_to_metric_families

from aga_otel import semconv as sc
from aga_otel.contract import EventBus
from aga_otel.demo import summary

DROPPED = sc.prom("events_dropped")


def audit(i: int) -> dict:
    return {"operation": "register", "success": True, "error": None,
            "timestamp": time.time(), "details": {"i": i}}  # fmt: skip


def scraped_drops(port: int) -> dict[str, float]:
    body = http_request(port, "/metrics")[2].decode()
    return {
        s.labels["reason"]: s.value
        for f in text_string_to_metric_families(body)
        for s in f.samples
        if s.name == DROPPED
    }


def unwritable_sqlite(tmp_path: Path) -> str:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    return str(blocker / "audit.db")  # no one creates a file under a file


def test_unwritable_at_start_readyz_and_the_count_at_shutdown(make_stack, tmp_path):
    path = unwritable_sqlite(tmp_path)
    for required, code in ((False, 200), (True, 503)):
        bus = EventBus()
        stack = make_stack(bus, local_config(
            audit_storage_backend="sqlite", audit_storage_path=path, audit_required=required,
            health_enabled=True,
        ))  # fmt: skip
        status, body = get_json(stack.health.port, "/readyz")
        assert status == code and body["checks"]["audit_writable"] is False, body
        for i in range(25):
            bus.emit("audit", audit(i))
        assert stack.force_flush(10)
        assert stack.get_stats()["logs"]["audit"]["accepted"] == 25
        stack.shutdown(2)
        dropped = stack.get_stats()["bridge"]["dropped"]
        assert dropped[sc.DROP_AUDIT_UNWRITTEN] == 25  # none written, all counted
        assert "25 audit_unwritten" in summary(stack.get_stats())


def test_backlog_overflow_is_on_the_metric_while_running(make_stack, tmp_path):
    bus = EventBus()
    stack = make_stack(bus, local_config(
        audit_storage_backend="sqlite", audit_storage_path=unwritable_sqlite(tmp_path),
        audit_batch_size=1, audit_queue_size=20000,  # the writer keeps at most 10,000
    ))  # fmt: skip
    for i in range(10_050):
        bus.emit("audit", audit(i))
    assert stack.force_flush(20)
    stats = stack.get_stats()
    lost = stats["bridge"]["dropped"]
    assert lost[sc.DROP_AUDIT_BACKLOG_FULL] + lost[sc.DROP_AUDIT_QUEUE_FULL] >= 50
    assert (
        stats["logs"]["audit"]["accepted"]
        + lost[sc.DROP_AUDIT_BACKLOG_FULL]
        + lost[sc.DROP_AUDIT_QUEUE_FULL]
        == 10_050
    )
    scraped = scraped_drops(stack.prometheus.port)
    assert scraped[sc.DROP_AUDIT_BACKLOG_FULL] == lost[sc.DROP_AUDIT_BACKLOG_FULL]
    assert scraped[sc.DROP_AUDIT_UNWRITTEN] == 0
    stack.shutdown(2)
    lost = stack.get_stats()["bridge"]["dropped"]
    assert lost[sc.DROP_AUDIT_UNWRITTEN] == stats["logs"]["audit"]["accepted"]


MID_RUN = """
import json, resource, signal, sys, time
sys.path.insert(0, {tests!r})
from conftest import get_json, local_config
from aga_otel.contract import EventBus
from aga_otel.stack import ObservabilityStack

signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # writes past the limit fail with EFBIG
path = {path!r}
bus = EventBus()
stack = ObservabilityStack(bus, local_config(
    audit_storage_backend="file", audit_storage_path=path, health_enabled=True,
    audit_required=True)).start()
out = {{}}

def emit(a, b):
    for i in range(a, b):
        bus.emit("audit", {{"operation": "register", "success": True, "error": None,
                           "timestamp": time.time(), "details": {{"i": i}}}})
    stack.force_flush(10)

def ready():
    code, body = get_json(stack.health.port, "/readyz")
    return code, body["checks"]["audit_writable"]

emit(0, 10)
out["before"] = ready()
limit = resource.getrlimit(resource.RLIMIT_FSIZE)
size = __import__("os").path.getsize(path)
resource.setrlimit(resource.RLIMIT_FSIZE, (size + 10, limit[1]))  # as a full disk does
emit(10, 15)
out["failing"] = ready()
out["backlog"] = stack.get_stats()["logs"]["audit"]["backlog"]
resource.setrlimit(resource.RLIMIT_FSIZE, limit)  # space again
deadline = time.monotonic() + 20
while ready()[0] != 200 and time.monotonic() < deadline:
    stack.force_flush(5)
    time.sleep(0.2)
out["fixed"] = ready()
audit = stack.get_stats()["logs"]["audit"]
out["written"], out["dropped"] = audit["written"], audit["dropped"]
resource.setrlimit(resource.RLIMIT_FSIZE, (__import__("os").path.getsize(path) + 10, limit[1]))
emit(15, 22)  # fails again; shutdown comes with these 7 in the backlog
stack.shutdown(2)
stats = stack.get_stats()
out["final_written"] = stats["logs"]["audit"]["written"]
out["unwritten"] = stats["bridge"]["dropped"]["audit_unwritten"]
from aga_otel.demo import summary
out["summary"] = summary(stats)
print(json.dumps(out))
"""


def test_store_unwritable_mid_run_fixed_then_shut_down_with_a_backlog(tmp_path):
    """The active JSON-lines file hits a file-size limit (what a full disk does), gets
    space back, then fails again and shutdown meets a backlog."""
    script = tmp_path / "mid_run.py"
    tests = str(Path(__file__).resolve().parent)
    script.write_text(MID_RUN.format(tests=tests, path=str(tmp_path / "audit.jsonl")))
    run = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                         timeout=120)  # fmt: skip
    assert run.returncode == 0, run.stderr
    out = json.loads(run.stdout.splitlines()[-1])
    assert out["before"] == [200, True]
    assert out["failing"] == [503, False] and out["backlog"] == 5
    assert out["fixed"] == [200, True]
    assert (out["written"], out["dropped"]) == (15, 0)
    assert out["final_written"] == 15 and out["unwritten"] == 7
    assert "7 audit_unwritten" in out["summary"]
    assert len((tmp_path / "audit.jsonl").read_text().splitlines()) == 15


def test_demo_summary_names_unwritten_audit_records(tmp_path):
    config = tmp_path / "aga.yaml"
    config.write_text(
        f"audit_storage_backend: sqlite\naudit_storage_path: {unwritable_sqlite(tmp_path)}\n"
        "prometheus_enabled: false\nhealth_enabled: false\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    out = subprocess.run(
        [sys.executable, "-m", "aga_otel", "demo", "--duration", "3", "--rate", "300",
         "--layers", "1", "--quiet", "--seed", "3", "--config", str(config)],
        capture_output=True, text=True, timeout=120, env=env,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    done = [line for line in out.stdout.splitlines() if line.startswith("done:")]
    assert done and " audit_unwritten" in done[0], out.stdout
    n = int(done[0].split("dropped: ")[1].split(" audit_unwritten")[0].split(", ")[-1])
    assert n > 0 and f"{n} accepted records not written" in out.stderr
