"""The log pipeline with a real LoggerProvider, real files and real SQLite stores."""

from __future__ import annotations

import io
import json
import logging
import time

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider

from aga_otel.audit import open_store
from aga_otel.config import ObservabilityConfig
from aga_otel.contract import Event
from aga_otel.logs import build_log_pipeline
from aga_otel.logs.records import SPAN_CONTEXT_ATTR
from aga_otel.status import Status, StatusBoard

RESOURCE = Resource.create({"service.name": "aga-test"})
NOW = time.time()  # audit entries must be inside the retention period


def forward(layer=0, ts=1_700_000_000.0):
    return Event(
        "forward",
        ts,
        {
            "aga_applied": True,
            "gate_mean": 0.7,
            "entropy_mean": 2.5,
            "layer_idx": layer,
            "latency_us": 120.0,
        },
    )


def retrieval(ts=1_700_000_001.0):
    return Event(
        "retrieval",
        ts,
        {
            "layer_idx": 3,
            "results_count": 5,
            "injected_count": 2,
            "budget_remaining": 6,
            "ids": ["k1", "k2"],
            "scores": [0.9, 0.8],
        },
    )


def audit(op="register", success=True, ts=NOW, details=None, error=None):
    return Event(
        "audit",
        ts,
        {
            "operation": op,
            "success": success,
            "error": error,
            "timestamp": ts,
            "details": details or {"id": "k1"},
        },
    )


def pipeline(tmp_path, **kw):
    kw.setdefault("audit_storage_backend", "sqlite")
    kw.setdefault("audit_storage_path", str(tmp_path / "audit.db"))
    status = StatusBoard()
    return build_log_pipeline(ObservabilityConfig(**kw), status, RESOURCE), status


def lines(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_json_lines_with_level_filter_and_audit(tmp_path):
    log = tmp_path / "events.log"
    p, status = pipeline(tmp_path, log_file=str(log), log_level="INFO")
    p.handle_batch([forward(), retrieval(), audit(), audit("unregister", False, error="gone")])
    p.shutdown(5)
    out = lines(log)
    assert [r["event"] for r in out] == ["aga.retrieval", "aga.audit", "aga.audit"]
    assert [r["level"] for r in out] == ["INFO", "INFO", "WARN"]
    first = out[0]
    assert first["timestamp"] == "2023-11-14T22:13:21.000000Z"
    assert first["service.name"] == "aga-test" and "trace_id" not in first
    assert first["attributes"]["aga.retrieval.injected_count"] == 2
    assert first["message"] == "layer 3 retrieval: 2 of 5 results injected"
    assert out[2]["message"] == "audit unregister failed: gone"
    stats = p.stats()
    assert stats["filtered"] == 1 and stats["records_emitted"] == 3
    # Two audit rows plus the retrieval's inject row (docs/knowledge-attribution.md).
    assert stats["audit"]["written"] == 3 and status.get("logs.file").status is Status.HEALTHY


def test_debug_level_text_format_to_stderr_stream():
    stream = io.StringIO()
    config = ObservabilityConfig(log_stderr=True, log_format="text", log_level="DEBUG")
    p = build_log_pipeline(config, StatusBoard(), RESOURCE, stream=stream)
    p.handle_batch([forward(layer=7)])
    p.shutdown(5)
    text = stream.getvalue()
    assert text.startswith(
        "2023-11-14T22:13:20.000000Z DEBUG aga.forward layer 7 forward applied (gate 0.700"
    )
    assert "aga.layer_idx=7" in text and "aga.applied=True" in text


def test_audit_persists_when_logs_are_off_or_above_level(tmp_path):
    log = tmp_path / "events.log"
    p, _ = pipeline(tmp_path, log_enabled=False, log_file=str(log))
    p.handle_batch([audit(f"op{i}", ts=NOW + i) for i in range(250)] + [forward()])
    p.shutdown(5)  # clean shutdown: everything accepted is written
    assert not log.exists()
    store = open_store("sqlite", tmp_path / "audit.db", read_only=True)
    assert store.count() == 250 and store.verify().ok
    assert store.query(limit=1)[0]["operation"] == "op249"
    assert p.stats()["filtered"] == 1

    p, _ = pipeline(
        tmp_path, log_file=str(log), log_level="ERROR", audit_storage_path=str(tmp_path / "b.db")
    )
    p.handle_batch([audit("register", False, error="full")])
    p.shutdown(5)
    assert not log.exists()  # the WARN audit record is kept out of ERROR-level output
    assert open_store("sqlite", tmp_path / "b.db").query()[0]["error"] == "full"


def test_redaction_reaches_store_and_exports(tmp_path):
    log = tmp_path / "events.log"
    p, _ = pipeline(
        tmp_path,
        log_file=str(log),
        audit_storage_backend="file",
        audit_storage_path=str(tmp_path / "audit.jsonl"),
        audit_redact_keys=("password", "ssn"),
    )
    p.handle_batch(
        [audit(details={"id": "k1", "metadata": {"password": "hunter2", "SSN": "123", "ok": 1}})]
    )
    p.shutdown(5)
    assert "hunter2" not in log.read_text() and "123" not in log.read_text()
    raw = (tmp_path / "audit.jsonl").read_text()
    assert "hunter2" not in raw
    row = open_store("file", tmp_path / "audit.jsonl").query()[0]
    assert row["details"]["metadata"] == {"password": "***", "SSN": "***", "ok": 1}


def test_malformed_events_never_raise(tmp_path):
    log = tmp_path / "events.log"
    p, _ = pipeline(tmp_path, log_file=str(log), log_level="DEBUG")

    class Weird:
        type = "forward"
        timestamp = "yesterday"
        data = None

    bad = [
        Event("forward", float("nan"), {"layer_idx": "x", "gate_mean": float("inf")}),
        Event("retrieval", 1.0, ["not", "a", "dict"]),
        Event("audit", NOW, {"details": 5}),
        Event("mystery", 1.0, {}),
        Weird(),
        object(),
        None,
    ]
    p.handle_batch(bad)
    p.shutdown(5)
    events = [r["event"] for r in lines(log)]
    assert events.count("aga.forward") == 2 and "aga.event" in events
    stats = p.stats()
    assert stats["malformed"] >= 4 and stats["errors"] == 0
    stored = open_store("sqlite", tmp_path / "audit.db").query()
    assert stored[0]["operation"] == "<missing>" and stored[0]["details"] == {"value": 5}


def test_trace_context_only_from_the_event_hook(tmp_path):
    log = tmp_path / "events.log"
    p, _ = pipeline(tmp_path, log_file=str(log))
    tracer = TracerProvider().get_tracer("test")
    with tracer.start_as_current_span("worker-span"):  # not the emitter's: must be ignored
        plain = retrieval()
        carried = retrieval()
        with tracer.start_as_current_span("emitter") as span:
            setattr(carried, SPAN_CONTEXT_ATTR, span.get_span_context())
            expected = f"{span.get_span_context().trace_id:032x}"
        p.handle_batch([plain, carried])
    p.shutdown(5)
    first, second = lines(log)
    assert "trace_id" not in first and second["trace_id"] == expected
    assert trace.get_current_span() is trace.INVALID_SPAN


def test_log_file_rotation(tmp_path):
    log = tmp_path / "events.log"
    p, _ = pipeline(tmp_path, log_file=str(log), log_max_bytes=2000, log_backup_count=2)
    for _ in range(10):
        p.handle_batch([retrieval() for _ in range(10)])
        p.flush()
    p.shutdown(5)
    assert (tmp_path / "events.log.1").exists() and (tmp_path / "events.log.2").exists()
    assert not (tmp_path / "events.log.3").exists()
    assert all(line["event"] == "aga.retrieval" for line in lines(tmp_path / "events.log.1"))


def test_never_touches_root_logger_and_unwritable_log_degrades(tmp_path):
    root_handlers = list(logging.getLogger().handlers)
    blocker = tmp_path / "file"
    blocker.write_text("x")
    p, status = pipeline(tmp_path, log_file=str(blocker / "events.log"))
    p.handle_batch([retrieval()])
    p.flush()
    p.shutdown(5)
    assert logging.getLogger().handlers == root_handlers
    state = status.get("logs.file")
    assert state.status is Status.DEGRADED and "local log output failed" in state.detail
    assert p.stats()["local"]["failed"] == 1


def test_unwritable_audit_path_degrades_keeps_backlog_and_recovers(tmp_path, caplog):
    blocker = tmp_path / "blocked"
    blocker.write_text("a file where a directory should be")
    p, status = pipeline(
        tmp_path, audit_storage_path=str(blocker / "audit.db"), audit_flush_interval=0.05
    )
    p.audit_writer.max_backlog = 30
    with caplog.at_level(logging.ERROR, logger="aga_otel"):
        p.handle_batch([audit(f"op{i}", ts=NOW + i) for i in range(40)])
        assert p.audit_writer.flush() is False
    state = status.get("audit")
    assert state.status is Status.DEGRADED and "sqlite store write failed" in state.detail
    assert p.stats()["audit"]["backlog"] == 30 and p.stats()["audit"]["dropped"] == 10
    assert sum("audit" in r.getMessage() for r in caplog.records) == 2  # failure + overflow
    blocker.unlink()  # the operator fixes the path; the writer thread recovers by itself
    deadline = time.monotonic() + 5
    while status.get("audit").status is not Status.HEALTHY and time.monotonic() < deadline:
        time.sleep(0.02)
    p.shutdown(5)
    assert status.get("audit").status is Status.HEALTHY
    assert open_store("sqlite", blocker / "audit.db").count() == 30


def test_simulated_workload_through_the_bridge(tmp_path):
    """Contract bus → EventBridge worker → log pipeline, as the stack will wire it."""
    from aga_otel.bridge import EventBridge
    from aga_otel.contract import SimulatedPlugin, WorkloadProfile, WorkloadSimulator

    log = tmp_path / "events.log"
    p, status = pipeline(tmp_path, log_file=str(log))
    plugin = SimulatedPlugin()
    bridge = EventBridge([p], status=status)
    bridge.subscribe(plugin.event_bus)
    injected = []
    plugin.event_bus.subscribe("retrieval", lambda e: injected.append(e.data["injected_count"]))
    bridge.start()
    sim = WorkloadSimulator(plugin, WorkloadProfile(layers=4, audit_probability=0.2), seed=3)
    sim.start()
    sim.run_steps(300)
    assert bridge.drain(10)
    bridge.stop(5)
    p.shutdown(5)
    audits = sum(sim.totals.audit.values())
    retrievals = sum(sim.totals.retrieval.values())
    stored = open_store("sqlite", tmp_path / "audit.db", read_only=True)
    injections = len(stored.query(operation="inject", limit=10_000))
    assert injections == sum(1 for n in injected if n)  # one row per retrieval that injected
    assert stored.count() == audits + injections and stored.verify().ok
    failed = sum(n for (_, ok), n in sim.totals.audit.items() if not ok)
    assert len(stored.query(success=False, limit=10_000)) == failed
    events = [r["event"] for r in lines(log)]
    assert events.count("aga.audit") == audits and events.count("aga.retrieval") == retrievals
    assert "aga.forward" not in events  # INFO level: forward events never became records
