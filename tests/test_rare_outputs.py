"""Rare events give the same bytes everywhere they land, whatever the path inside does.

A fixed corpus of retrieval, audit, forward, unknown and alert events (benign and hostile:
secrets in keys and text, sets, bytes, NaN, cycles, deep nests, huge strings, non-ASCII,
traced events, malformed data) goes through real log pipelines: JSON lines to a file, text
lines to a stream, OTLP/HTTP to the real receiver, SQLite, JSONL and memory audit stores,
and spans. Everything they wrote is compared with ``tests/fixtures/rare_outputs.json``, which
was written by the implementation before rare events were batched and fast-pathed
(regenerate only for an intended change of output: ``python -m tests.test_rare_outputs``).
Only wall-clock values that differ run to run are blanked (OTLP observed timestamps).
"""

from __future__ import annotations

import io
import json
import sqlite3
import sys
from pathlib import Path
from types import SimpleNamespace

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from aga_otel.config import ObservabilityConfig
from aga_otel.contract import Event
from aga_otel.logs import build_log_pipeline
from aga_otel.status import StatusBoard
from aga_otel.tracing import build_tracing
from aga_otel.tracing.capture import TracedEvent
from tests.otlp_receiver import HttpReceiver

FIXTURE = Path(__file__).parent / "fixtures" / "rare_outputs.json"
RESOURCE = Resource.create({"service.name": "aga-golden", "service.instance.id": "golden-1"})
T0 = 1_700_000_000.123456
SPAN = trace.SpanContext(0x1234567890ABCDEF1234567890ABCDEF, 0x1122334455667788, False,
                         trace.TraceFlags(1))  # fmt: skip


def _cycle() -> dict:
    d: dict = {"name": "loop"}
    d["self"] = d
    return d


def _deep(n: int) -> dict:
    d: dict = {"leaf": 1}
    for i in range(n):
        d = {f"level{i}": d}
    return d


def corpus() -> list:
    """The events, in emission order (timestamps fixed, so every output is reproducible)."""
    t = iter(T0 + i * 0.0137 for i in range(1000))
    meta = {"source": "https://docs.example.com/kb/a-12", "user": "bench", "tags": ["a", "b"],
            "api_key": "sk-not-a-real-key", "note": "nightly import", "apiKey": "x",
            "url": "https://user:pw@host.example/path?token=abc"}  # fmt: skip
    retrieval = {"layer_idx": 3, "results_count": 5, "injected_count": 2, "budget_remaining": 6,
                 "ids": ["k1", "k2"], "scores": [0.9, 0.8]}  # fmt: skip

    def audit(op, ok=True, details=None, error=None, ts=None):
        return Event("audit", next(t), {"operation": op, "success": ok, "error": error,
                                        "details": details, "timestamp": ts or next(t)})  # fmt: skip

    events = [
        Event(
            "forward",
            next(t),
            {
                "aga_applied": True,
                "gate_mean": 0.7,
                "entropy_mean": 2.5,
                "layer_idx": 1,
                "latency_us": 120.0,
            },
        ),  # fmt: skip
        Event("retrieval", next(t), dict(retrieval)),
        TracedEvent(Event("retrieval", next(t), {**retrieval, "ids": ["p=1", "ü-fact"]}), SPAN),
        Event("retrieval", next(t), {**retrieval, "injected_count": 0, "ids": [], "scores": []}),
        Event(
            "retrieval",
            next(t),
            {
                **retrieval,
                "results_count": 60,
                "injected_count": 40,
                "ids": [f"id-{i}" for i in range(50)],
                "scores": [i / 50 for i in range(50)],
            },
        ),  # fmt: skip
        Event("retrieval", next(t), {**retrieval, "scores": [float("nan"), 2.0], "ids": [1, b"x"]}),
        Event("retrieval", next(t), "not a dict"),
        Event("retrieval", next(t), {"layer_idx": -1, "injected_count": 1, "ids": ["z" * 300]}),
        audit(
            "register",
            details={
                "id": "k1",
                "reliability": 0.9,
                "pinned": False,
                "metadata": meta,
                "store_count": 3,
            },
        ),  # fmt: skip
        TracedEvent(audit("unregister", details={"id": "k1", "store_count": 2}), SPAN),
        audit(
            "clear",
            ok=False,
            error="denied: password=hunter2 Bearer abcdefghijk",
            details={"token": "s3cret", "namespace": "ns"},
        ),  # fmt: skip
        audit("load_from", details={"source": "/data/kb.jsonl", "type": "jsonl", "count": 10**30}),
        audit(
            "custom_op",
            details={
                "set": {3, 1, 2},
                "bytes": b"\xff\x00",
                "nan": float("nan"),
                "tuple": (1, "two"),
                7: "int key",
                "cycle": _cycle(),
            },
        ),
        audit("register", details={"deep": _deep(20), "huge": "x" * 20000}),
        audit("register", details={"unicode": "Paſsword=ſecret", "é": "café", "\ud800": 1}),
        audit("register", details=["not", "a", "dict"]),
        audit("register", details=None, ts="not a time"),
        Event("audit", next(t), {"success": True}),
        Event("audit", next(t), None),
        Event("mystery", next(t), {"x": 1}),
        audit("register", details={f"k{i}": i for i in range(1100)}),
    ]
    return events


def alert() -> SimpleNamespace:
    return SimpleNamespace(rule_name="high_entropy", state=SimpleNamespace(value="firing"),
                           severity="critical", metric="entropy_mean", value=5.5, threshold=5.0,
                           message="entropy 5.50 > 5.0", timestamp=T0 + 30)  # fmt: skip


def _sqlite_rows(path: Path) -> dict:
    with sqlite3.connect(path) as conn:
        return {"log": [list(r) for r in conn.execute("SELECT * FROM audit_log ORDER BY seq")],
                "meta": sorted(list(r) for r in conn.execute("SELECT * FROM audit_meta"))}  # fmt: skip


def _otlp(records) -> list:
    out = []
    for r in records:
        r.observed_time_unix_nano = 0  # wall clock at emission
        out.append(r.SerializeToString().hex())
    return out


def _run(config: ObservabilityConfig, stream=None, events=None) -> object:
    p = build_log_pipeline(config, StatusBoard(), RESOURCE, stream)
    batch = corpus() if events is None else events
    p.handle_batch(batch[:9])  # two bridge passes: the rare events arrive in batches
    p.handle_batch(batch[9:])
    p.record_alert(alert())
    p.shutdown(10)
    return p


def capture(tmp: Path) -> dict:
    """Everything every output wrote for the corpus."""
    out: dict = {}
    common = dict(service_name="aga-golden", audit_retention_days=1e6, otlp_logs_enabled=False)
    log = tmp / "events.log"
    _run(ObservabilityConfig(log_file=str(log), audit_storage_backend="sqlite",
                             audit_storage_path=str(tmp / "a.db"), **common))  # fmt: skip
    out["json_lines"] = log.read_text().splitlines()
    out["sqlite"] = _sqlite_rows(tmp / "a.db")
    stream = io.StringIO()
    _run(ObservabilityConfig(log_stderr=True, log_format="text", log_level="DEBUG",
                             audit_storage_backend="file", audit_storage_path=str(tmp / "a.jsonl"),
                             audit_redact_keys=("password", "id", "note"), **common), stream)  # fmt: skip
    out["text_lines"] = stream.getvalue().splitlines()
    out["jsonl"] = (tmp / "a.jsonl").read_text().splitlines()
    p = _run(ObservabilityConfig(log_file=str(tmp / "small.log"), audit_storage_backend="memory",
                                 knowledge_ids_enabled=False, knowledge_max_documents=3,
                                 audit_max_detail_bytes=200, **common))  # fmt: skip
    out["small_lines"] = (tmp / "small.log").read_text().splitlines()
    out["memory"] = [json.dumps(e, default=repr) for e in p.audit_store.iter_entries()]
    with HttpReceiver() as rx:
        cfg = dict(common, otlp_logs_enabled=True)
        _run(ObservabilityConfig(otlp_endpoint=rx.endpoint, otlp_protocol="http/protobuf",
                                 audit_storage_backend="memory", **cfg))  # fmt: skip
        rx.received.wait_for("logs", lambda reqs: len(rx.received.log_records()) >= 20)
        out["otlp"] = _otlp(rx.received.log_records())
    out["spans"] = _spans()
    return out


def _spans() -> list:
    exporter = InMemorySpanExporter()
    config = ObservabilityConfig(tracing_enabled=True, trace_forward_sample_rate=1.0)
    tracing = build_tracing(config, StatusBoard(), RESOURCE, [exporter])
    tracing.handle_batch(corpus())
    tracing.flush(5)
    out = []
    for s in exporter.get_finished_spans():
        parent = s.parent.span_id if s.parent else None
        out.append(json.dumps([s.name, s.start_time, s.end_time, dict(s.attributes), parent,
                               s.status.status_code.name, s.status.description, s.kind.name]))  # fmt: skip
    tracing.shutdown(5)
    return out


def test_every_output_is_byte_identical(tmp_path):
    expected = json.loads(FIXTURE.read_text())
    got = capture(tmp_path)
    assert set(got) == set(expected)
    for key in expected:
        assert got[key] == expected[key], key


if __name__ == "__main__":  # regenerate the fixture (only for an intended change of output)
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        FIXTURE.write_text(json.dumps(capture(Path(d)), indent=1, ensure_ascii=True) + "\n")
    print(f"wrote {FIXTURE}", file=sys.stderr)
