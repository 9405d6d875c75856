"""A forked child retires the pipelines it inherited: the SDK restarts the inherited batch
processors' threads in the child; aga-otel stops them (exporting, writing and closing
nothing of the parent's) and builds its own, so the child runs one processor per exporter
and its records and audit rows arrive once; the parent is unaffected."""

from __future__ import annotations

import json
import os
import threading
import time

import pytest
from conftest import local_config
from otlp_receiver import HttpReceiver, attrs
from test_fork import child_report, fork_child

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="os.fork() is POSIX only")

LOG_THREAD, SPAN_THREAD = "OtelBatchLogRecordProcessor", "OtelBatchSpanRecordProcessor"


def batch_threads() -> dict[str, int]:
    names = [t.name for t in threading.enumerate()]
    return {n: names.count(n) for n in (LOG_THREAD, SPAN_THREAD)}


def settled(expected: dict[str, int], within: float = 5.0) -> dict[str, int]:
    """The batch thread counts once they reach ``expected`` (or ``within`` s passed):
    retired threads end on their own, without the test asserting a timing."""
    end = time.monotonic() + within
    while batch_threads() != expected and time.monotonic() < end:
        time.sleep(0.05)
    return batch_threads()


def emit(bus, n: int, tag: str) -> None:
    for i in range(n):
        bus.emit("retrieval", {"layer_idx": 0, "results_count": 2, "injected_count": 0})
        bus.emit("audit", {"operation": "register", "details": {"id": f"{tag}{i}"},
                           "success": True, "error": None, "timestamp": time.time()})  # fmt: skip


def child_main(stack, bus, write_fd: int) -> None:
    code = 1
    try:
        report = {"threads": settled({LOG_THREAD: 2, SPAN_THREAD: 1})}
        emit(bus, 5, "child")
        stack.force_flush()
        report["instance"] = stack.instance_id
        report["audit_rows"] = [r["details"]["id"] for r in stack.audit_storage.query(limit=100)]
        stack.shutdown(timeout=5)
        report["after_shutdown"] = settled({LOG_THREAD: 0, SPAN_THREAD: 0})
        os.write(write_fd, json.dumps(report).encode())
        code = 0
    except BaseException as exc:
        os.write(write_fd, json.dumps({"error": repr(exc)}).encode())
    finally:
        os._exit(code)


def test_forked_child_retires_inherited_processors(make_stack, plugin, tmp_path):
    with HttpReceiver() as receiver:
        config = local_config(
            prometheus_enabled=False, log_enabled=True, log_stderr=False,
            log_file=str(tmp_path / "events.jsonl"), otlp_endpoint=receiver.endpoint,
            otlp_protocol="http/protobuf", otlp_metrics_enabled=False, tracing_enabled=True,
            audit_flush_interval=3600,  # the parent's rows wait in its backlog at the fork
        )  # fmt: skip
        stack = make_stack(plugin.event_bus, config)
        emit(plugin.event_bus, 3, "parent")
        assert stack.bridge.drain(5)
        assert settled({LOG_THREAD: 2, SPAN_THREAD: 1}) == {LOG_THREAD: 2, SPAN_THREAD: 1}

        child = child_report(*fork_child(child_main, stack, plugin.event_bus))

        # One batch processor per exporter in the child (OTLP + file logs, OTLP spans).
        assert child["threads"] == {LOG_THREAD: 2, SPAN_THREAD: 1}
        assert child["after_shutdown"] == {LOG_THREAD: 0, SPAN_THREAD: 0}
        # The child's audit rows are its own, once each; the parent's backlog stays the parent's.
        assert sorted(child["audit_rows"]) == [f"child{i}" for i in range(5)]
        stack.force_flush()
        parent_rows = [r["details"]["id"] for r in stack.audit_storage.query(limit=100)]
        assert sorted(parent_rows) == [f"parent{i}" for i in range(3)]

        stack.shutdown(timeout=5)
        by_instance: dict[str, list[str]] = {}
        for req in list(receiver.received.requests["logs"]):
            for rlogs in req.resource_logs:
                iid = attrs(rlogs.resource.attributes)["service.instance.id"]
                for sl in rlogs.scope_logs:
                    for r in sl.log_records:
                        if r.event_name == "aga.audit":
                            details = json.loads(attrs(r.attributes)["aga.audit.details"])
                            by_instance.setdefault(iid, []).append(details["id"])
        assert sorted(by_instance[child["instance"]]) == [f"child{i}" for i in range(5)]
        assert sorted(by_instance[stack.instance_id]) == [f"parent{i}" for i in range(3)]


def test_each_component_is_shut_down_once(make_stack, plugin, tmp_path, monkeypatch):
    """The stack, its log pipeline and the provider each stop the audit writer and the
    span/log exporters' processors no more than once, even when shutdown is repeated."""
    from aga_otel.audit.writer import AuditWriter

    calls: list[str] = []
    real = AuditWriter.shutdown

    def counted(self, timeout: float = 5.0) -> bool:  # the real shutdown, counted
        calls.append("audit")
        return real(self, timeout)

    monkeypatch.setattr(AuditWriter, "shutdown", counted)
    stack = make_stack(plugin.event_bus, local_config(
        log_enabled=True, log_stderr=False, log_file=str(tmp_path / "aga.jsonl"),
        audit_storage_backend="sqlite", audit_storage_path=str(tmp_path / "audit.db"),
    ))  # fmt: skip
    emit(plugin.event_bus, 3, "row")
    stack.shutdown(timeout=5)
    stack.shutdown(timeout=5)
    assert calls == ["audit"]
    assert sorted(r["details"]["id"] for r in stack.audit_storage.query(limit=10)) == [
        "row0", "row1", "row2"
    ]  # fmt: skip
