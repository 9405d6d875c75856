"""Knowledge attribution: which facts reached a request, and where each came from.

Real parts only: the contract EventBus driven by the workload simulator inside request
spans of an application TracerProvider (never global), the whole ObservabilityStack with
OTLP export to the project's receiver, a real Prometheus scrape, real SQLite and JSONL
audit files, and the ``aga-otel`` CLI as a subprocess. The minimal pipelines feed the log
and trace sinks events carrying the emitter's span context, built with
:mod:`aga_otel.tracing.capture` exactly as the bridge presents them to sinks.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest
from conftest import local_config
from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from otlp_receiver import GrpcReceiver, attrs
from prometheus_client.parser import text_string_to_metric_families

from aga_otel import semconv as sc
from aga_otel.audit import open_store
from aga_otel.audit.explain import describe, explain_fact, explain_trace
from aga_otel.config import ConfigError, ObservabilityConfig
from aga_otel.contract import Event, WorkloadProfile, WorkloadSimulator
from aga_otel.logs import build_log_pipeline
from aga_otel.status import StatusBoard
from aga_otel.tracing import build_tracing
from aga_otel.tracing.capture import TracedEvent

RESOURCE = Resource.create({"service.name": "aga-knowledge-test"})
T1, T2 = 0x4BF92F3577B34DA6A3CE929D0E0E4736, 0x0AF7651916CD43DD8448EB211C80319C
BACKENDS = [("sqlite", "audit.db"), ("file", "audit.jsonl")]


# --- helpers -------------------------------------------------------------------------------
def span_context(trace_id: int, span_id: int = 0x00F067AA0BA902B7) -> trace.SpanContext:
    return trace.SpanContext(trace_id, span_id, False, trace.TraceFlags(1))


def retrieval(ids, scores, injected=None, layer=2, ts=1_800_000_000.0, trace_id=None):
    injected = len(ids) if injected is None else injected
    data = {"layer_idx": layer, "results_count": max(len(ids), injected),
            "injected_count": injected, "budget_remaining": 1, "ids": ids, "scores": scores}  # fmt: skip
    event = Event("retrieval", ts, data)
    return event if trace_id is None else TracedEvent(event, span_context(trace_id))


def audit(op, fact_id, success=True, ts=1_800_000_000.0):
    return Event("audit", ts, {"operation": op, "details": {"id": fact_id, "store_count": 1},
                               "success": success, "error": None if success else "rejected",
                               "timestamp": ts})  # fmt: skip


class Minimal:
    """The log sink (audit trail) and the trace sink with an in-memory span exporter."""

    def __init__(self, tmp_path: Path, backend="sqlite", name="audit.db", **overrides) -> None:
        self.path = tmp_path / name
        self.log = tmp_path / "events.log"
        self.config = ObservabilityConfig(
            audit_storage_backend=backend, audit_storage_path=str(self.path),
            log_file=str(self.log), tracing_enabled=True, trace_retrieval_documents=True, **overrides,
        )  # fmt: skip
        status = StatusBoard()
        self.exporter = InMemorySpanExporter()
        self.logs = build_log_pipeline(self.config, status, RESOURCE)
        self.traces = build_tracing(self.config, status, RESOURCE, exporters=[self.exporter])
        self.backend = backend

    def feed(self, *events) -> None:
        self.logs.handle_batch(events)
        self.traces.handle_batch(events)

    def close(self) -> None:
        self.traces.shutdown(5)
        self.logs.shutdown(5)

    def store(self):
        return open_store(self.backend, self.path, read_only=True)

    def spans(self, name="retrieval"):
        return [s for s in self.exporter.get_finished_spans() if s.name == name]

    def log_lines(self):
        return [json.loads(line) for line in self.log.read_text().splitlines()]


def cli(*argv: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "aga_otel", "audit", *argv],
                          capture_output=True, text=True, timeout=60)  # fmt: skip


# --- the simulator inside request spans, through the whole stack --------------------------
class Recorder:
    """Subscribed to the bus: what was emitted, in order, under which request span."""

    def __init__(self, bus) -> None:
        self.stream: list[tuple[str, int, dict]] = []
        bus.subscribe("retrieval", self._on)
        bus.subscribe("audit", self._on)

    def _on(self, event) -> None:
        sc_ = trace.get_current_span().get_span_context()
        self.stream.append((event.type, sc_.trace_id if sc_.is_valid else 0, dict(event.data)))

    def expected_facts(self) -> dict[int, list[tuple[str, float, int, str]]]:
        """trace id → [(id, score, layer, origin)], origins replayed in emission order."""
        present: dict[str, bool] = {}
        out: dict[int, list] = {}
        for etype, tid, d in self.stream:
            if etype == "audit":
                fid = (d.get("details") or {}).get("id")
                if d["success"] and d["operation"] == "register":
                    present[fid] = True
                elif d["success"] and d["operation"] == "unregister":
                    present[fid] = False
                continue
            n = d["injected_count"]  # ids/scores are the first injected_count results
            for fid, score in zip(d["ids"][:n], d["scores"][:n]):
                origin = "register" if present.get(fid) else "retriever"
                out.setdefault(tid, []).append((fid, score, d["layer_idx"], origin))
        return out

    def fact_rows(self, fid: str) -> list[tuple[str, bool]]:
        return [(d["operation"], d["success"]) for etype, _, d in self.stream
                if etype == "audit" and (d.get("details") or {}).get("id") == fid]  # fmt: skip


@pytest.mark.parametrize("ids_enabled", [True, False])
def test_simulated_requests_through_the_full_stack(tmp_path, plugin, make_stack, ids_enabled):
    db = tmp_path / "audit.db"
    with GrpcReceiver() as receiver:
        cfg = local_config(
            otlp_endpoint=receiver.endpoint, log_enabled=True, tracing_enabled=True, trace_retrieval_documents=True,
            alert_enabled=True, health_enabled=True, audit_storage_backend="sqlite",
            audit_storage_path=str(db), knowledge_ids_enabled=ids_enabled,
        )  # fmt: skip
        stack = make_stack(plugin.event_bus, cfg)
        recorder = Recorder(plugin.event_bus)
        app = TracerProvider().get_tracer("serving-app")  # the application's, never global
        profile = WorkloadProfile(layers=4, retrieval_cooldown_steps=1, retrieval_probability=0.6,
                                  audit_probability=0.3)  # fmt: skip
        sim = WorkloadSimulator(plugin, profile, seed=11,
                                step_context=lambda: app.start_as_current_span("POST /generate"))  # fmt: skip
        sim.start()
        sim.run_steps(120)
        scrape = urllib.request.urlopen(f"http://127.0.0.1:{stack.prometheus.port}/metrics").read()
        stack.shutdown()
        got = receiver.received
        expected = recorder.expected_facts()
        injected_traces = {t for t, facts in expected.items() if facts and t}
        assert len(injected_traces) >= 10  # the seed gives a real workload
        got.wait_for("traces", lambda _: len([s for s in got.spans() if s.name == "retrieval"])
                     >= sum(1 for e, t, _ in recorder.stream if e == "retrieval"))  # fmt: skip
        spans = [s for s in got.spans() if s.name == "retrieval"]

    # Spans: one GenAI retrieval span per retrieval, child of its request, documents as sent.
    retrievals = [(t, d) for e, t, d in recorder.stream if e == "retrieval"]
    by_trace: dict[int, list] = {}
    for s in spans:
        by_trace.setdefault(int.from_bytes(s.trace_id, "big"), []).append(attrs(s.attributes))
    for tid, data in retrievals:
        a = by_trace[tid].pop(0)
        assert a[sc.SPAN_ATTR_GENAI_OPERATION] == sc.GENAI_OPERATION_RETRIEVAL
        docs = json.loads(a.get(sc.SPAN_ATTR_GENAI_DOCUMENTS, "[]"))
        want = [{"id": i, "score": s} for i, s in zip(data["ids"], data["scores"])]
        assert docs == (want if ids_enabled else [{"score": d["score"]} for d in want])

    # Metrics: no fact id in any label, whatever the switch.
    fact_ids = {d[0] for facts in expected.values() for d in facts}
    for family in text_string_to_metric_families(scrape.decode()):
        for sample in family.samples:
            assert not fact_ids & set(sample.labels.values()), sample

    # Explanations: exactly the facts injected under each trace, with their register rows.
    store = open_store("sqlite", db, read_only=True)
    assert store.verify().ok
    for tid in injected_traces:
        report = explain_trace(store, format(tid, "032x"))
        assert report.chain_ok and report.ids_recorded is ids_enabled
        assert {f.instance for f in report.facts} == {stack.instance_id}
        got_facts = [(f.id, f.score, f.layer, f.origin) for f in report.facts]
        if ids_enabled:
            assert got_facts == expected[tid]
            for f in report.facts:
                rows = [(p.operation, p.success) for p in f.provenance]
                assert rows == recorder.fact_rows(f.id)
        else:
            assert got_facts == [(None, s, layer, None) for _, s, layer, _ in expected[tid]]
    if not ids_enabled:
        return
    # The CLI, as an operator runs it, gives the same answer.
    tid = format(sorted(injected_traces)[0], "032x")
    run = cli("explain", str(db), "--trace", tid.upper(), "--format", "json")
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout) == json.loads(json.dumps(explain_trace(store, tid).as_dict()))
    fid = expected[int(tid, 16)][0][0]
    fact = explain_fact(store, fid)
    reached = {t for t, facts in expected.items() for f in facts if f[0] == fid}
    assert {int(r.trace_id, 16) for r in fact.requests} == reached
    assert [(p.operation, p.success) for p in fact.history] == recorder.fact_rows(fid)


# --- provenance, both backends, the hash chain ----------------------------------------------
@pytest.mark.parametrize(("backend", "name"), BACKENDS)
def test_explain_trace_and_fact_with_provenance(tmp_path, backend, name):
    m = Minimal(tmp_path, backend, name)
    m.feed(
        audit("register", "k1", ts=1_800_000_000.0),
        audit("register", "k2", success=False, ts=1_800_000_001.0),
        retrieval(["k1", "k2", "k3", "k9"], [0.9, 0.8, 0.7, 0.1], injected=3, trace_id=T1,
                  ts=1_800_000_002.0),
        audit("unregister", "k1", ts=1_800_000_003.0),
        retrieval(["k1"], [0.6], layer=5, trace_id=T2, ts=1_800_000_004.0),
        retrieval(["k1"], [0.5], ts=1_800_000_005.0),  # no active span: no trace id
    )  # fmt: skip
    m.close()
    store = m.store()
    report = explain_trace(store, format(T1, "032x"))
    assert [(f.position, f.id, f.score, f.layer, f.origin) for f in report.facts] == [
        (0, "k1", 0.9, 2, "register"), (1, "k2", 0.8, 2, "retriever"),
        (2, "k3", 0.7, 2, "retriever"),
    ]  # fmt: skip
    k1, k2, k3 = report.facts
    assert [(p.operation, p.success, p.timestamp, p.source) for p in k1.provenance] == [
        ("register", True, 1_800_000_000.0, "aga-core"),
        ("unregister", True, 1_800_000_003.0, "aga-core"),
    ]
    assert [(p.operation, p.success, p.error) for p in k2.provenance] == [
        ("register", False, "rejected")
    ]
    assert k3.provenance == [] and k1.span_id == "00f067aa0ba902b7"
    assert report.injections == 1 and report.facts_dropped == 0 and report.chain_ok
    (late,) = explain_trace(store, format(T2, "032x")).facts
    assert (late.id, late.layer, late.origin) == ("k1", 5, "retriever")  # unregistered by then
    fact = explain_fact(store, "k1")
    assert [(r.trace_id, r.score) for r in fact.requests] == [
        (format(T1, "032x"), 0.9), (format(T2, "032x"), 0.6), (None, 0.5),
    ]  # fmt: skip
    assert "k1 score 0.900 layer 2" in describe(report) and "hash chain: OK" in describe(fact)
    assert explain_trace(store, "1" * 32).facts == []  # an unknown trace: nothing injected

    run = cli("explain", str(m.path), "--fact", "k1")
    assert run.returncode == 0 and "reached 3 requests" in run.stdout, run.stderr
    # The retrieval outside any span reads as such; one row is "1 audit row" (issue 27).
    assert "outside a trace layer" in run.stdout and "span None" not in run.stdout
    assert "<no active span>" not in run.stdout and "fact k1: 2 audit rows" in run.stdout
    one = cli("explain", str(m.path), "--fact", "k2").stdout
    assert "fact k2: 1 audit row\n" in one and "reached 1 request\n" in one, one
    # Tampering with an inject row shows in the answer and in the exit code.
    if backend == "sqlite":
        with sqlite3.connect(m.path) as conn:
            conn.execute("UPDATE audit_log SET details = replace(details, 'k3', 'kX') "
                         "WHERE operation = 'inject'")  # fmt: skip
    else:
        m.path.write_text(m.path.read_text().replace('"k3"', '"kX"'))
    run = cli("explain", str(m.path), "--trace", format(T1, "032x"))
    assert run.returncode == 1 and "hash chain: BROKEN" in run.stdout, run.stdout


def test_inject_rows_need_no_span_export(tmp_path):
    """The log sink alone (tracing off) records the trace of a span-carrying event: the
    bridge captures context for retrieval events whether spans are exported or not."""
    path = tmp_path / "audit.db"
    cfg = ObservabilityConfig(audit_storage_backend="sqlite", audit_storage_path=str(path),
                              log_enabled=False, service_instance_id="pod-7")  # fmt: skip
    resource = Resource.create({"service.instance.id": "pod-7"})
    logs = build_log_pipeline(cfg, StatusBoard(), resource)
    logs.handle_batch([retrieval(["k1"], [0.9], trace_id=T1)])
    logs.shutdown(5)
    (row,) = open_store("sqlite", path).query(operation="inject")
    assert row["details"] == {
        "trace_id": format(T1, "032x"), "span_id": "00f067aa0ba902b7", "layer": 2,
        "results_count": 1, "injected_count": 1, "facts": [{"id": "k1", "score": 0.9}],
        "facts_dropped": 0, "ids_recorded": True, "instance": "pod-7",
    }  # fmt: skip
    assert row["timestamp"] == 1_800_000_000.0 and row["success"] is True


def test_explain_rejects_bad_input(tmp_path):
    m = Minimal(tmp_path)
    m.feed(retrieval(["k1"], [0.9], trace_id=T1))
    m.close()
    run = cli("explain", str(m.path), "--trace", "not-a-trace")
    assert run.returncode == 2 and "not a trace id" in run.stderr
    assert cli("explain", str(tmp_path / "missing.db"), "--fact", "k1").returncode == 2
    assert cli("explain", str(m.path)).returncode == 2  # --trace or --fact is required


# --- the cap and the privacy switch ----------------------------------------------------------
@pytest.mark.parametrize(("backend", "name"), BACKENDS)
def test_cap_holds_on_a_1000_id_event(tmp_path, backend, name):
    m = Minimal(tmp_path, backend, name)  # default knowledge_max_documents: 32
    ids = [f"fact-{i}" for i in range(1000)]
    scores = [round(1 - i / 1000, 4) for i in range(1000)]
    m.feed(retrieval(ids, scores, trace_id=T1))
    m.close()
    (span,) = m.spans()
    docs = json.loads(span.attributes[sc.SPAN_ATTR_GENAI_DOCUMENTS])
    assert docs == [{"id": i, "score": s} for i, s in zip(ids[:32], scores[:32])]
    assert span.attributes[sc.SPAN_ATTR_DOCUMENTS_DROPPED] == 968
    (record,) = [r for r in m.log_lines() if r["event"] == "aga.retrieval"]
    assert record["attributes"]["aga.retrieval.ids"] == ids[:32]
    (row,) = m.store().query(operation="inject")
    assert len(row["details"]["facts"]) == 32 and row["details"]["facts_dropped"] == 968
    report = explain_trace(m.store(), format(T1, "032x"))
    assert [f.id for f in report.facts] == ids[:32] and report.facts_dropped == 968
    assert "fact-32" not in m.path.read_bytes().decode("utf-8", "replace")


def test_cap_zero_keeps_counts_only(tmp_path):
    m = Minimal(tmp_path, knowledge_max_documents=0)
    m.feed(retrieval(["a", "b"], [0.9, 0.8], trace_id=T1))
    m.close()
    (span,) = m.spans()
    assert span.attributes[sc.SPAN_ATTR_GENAI_DOCUMENTS] == "[]"
    assert span.attributes[sc.SPAN_ATTR_DOCUMENTS_DROPPED] == 2
    report = explain_trace(m.store(), format(T1, "032x"))
    assert report.facts == [] and report.facts_dropped == 2 and report.injections == 1


@pytest.mark.parametrize(("backend", "name"), BACKENDS)
def test_ids_off_removes_ids_everywhere(tmp_path, backend, name):
    m = Minimal(tmp_path, backend, name, knowledge_ids_enabled=False)
    m.feed(retrieval(["secret-fact-a", "secret-fact-b"], [0.9, 0.8], trace_id=T1))
    m.close()
    (span,) = m.spans()
    assert json.loads(span.attributes[sc.SPAN_ATTR_GENAI_DOCUMENTS]) == [
        {"score": 0.9}, {"score": 0.8}
    ]  # fmt: skip
    report = explain_trace(m.store(), format(T1, "032x"))
    assert [(f.id, f.score, f.origin) for f in report.facts] == [(None, 0.9, None),
                                                               (None, 0.8, None)]  # fmt: skip
    assert report.ids_recorded is False and "ids were not recorded" in describe(report)
    for path in (m.path, m.log):
        assert "secret-fact" not in path.read_text(errors="replace")
    assert "secret-fact" not in str([s.attributes for s in m.exporter.get_finished_spans()])


def test_redaction_applies_to_inject_rows(tmp_path):
    m = Minimal(tmp_path, audit_redact_keys=("facts",))
    m.feed(retrieval(["k1"], [0.9], trace_id=T1))
    m.close()
    (row,) = m.store().query(operation="inject")
    assert row["details"]["facts"] == "***" and row["details"]["trace_id"] == format(T1, "032x")


def test_malformed_retrievals_write_no_inject_row(tmp_path):
    m = Minimal(tmp_path)
    m.feed(
        Event("retrieval", 1_800_000_000.0, "not a dict"),
        retrieval([], [], injected=0, trace_id=T1),  # nothing injected
        retrieval([1, None, {"x": 1}], ["high", float("nan"), 0.5], trace_id=T1),  # odd values
    )
    m.close()
    (row,) = m.store().query(operation="inject")
    assert row["details"]["facts"] == [
        {"id": "1"},
        {"id": "None"},
        {"id": "{'x': 1}", "score": 0.5},
    ]
    assert m.store().verify().ok


# --- configuration and names ------------------------------------------------------------------
@pytest.mark.parametrize(
    ("field", "value"),
    [("knowledge_max_documents", -1), ("knowledge_max_documents", 1001),
     ("knowledge_max_documents", True), ("knowledge_max_documents", "5"),
     ("knowledge_ids_enabled", "no"), ("knowledge_ids_enabled", None)],
)  # fmt: skip
def test_bad_knowledge_settings_fail_at_start_up(field, value):
    with pytest.raises(ConfigError) as err:
        ObservabilityConfig(**{field: value})
    assert err.value.field == field


def test_names_match_the_pinned_genai_conventions():
    from opentelemetry.semconv._incubating.attributes import gen_ai_attributes as genai

    assert sc.SPAN_ATTR_GENAI_OPERATION == genai.GEN_AI_OPERATION_NAME
    assert sc.SPAN_ATTR_GENAI_DOCUMENTS == genai.GEN_AI_RETRIEVAL_DOCUMENTS
    assert genai.GenAiOperationNameValues.RETRIEVAL.value == sc.GENAI_OPERATION_RETRIEVAL
    metric_attributes = {a for m in sc.METRICS for a in m.attributes}
    assert not metric_attributes & {"id", "ids", "score", "scores", "trace_id", "fact"}
