"""Knowledge attribution from the audit trail alone: which facts reached a request, and
where each fact came from.

Usage::

    from aga_otel.audit import open_store
    from aga_otel.audit.explain import explain_fact, explain_trace

    store = open_store("sqlite", "aga_audit.db", read_only=True)
    report = explain_trace(store, "4bf92f3577b34da6a3ce929d0e0e4736")
    for fact in report.facts:            # in injection order
        print(fact.id, fact.score, fact.origin, [p.operation for p in fact.provenance])
    explain_fact(store, "k42").requests  # every request the fact reached

The answer is read from ``inject`` rows (one per retrieval that injected facts, written by
:mod:`aga_otel.audit.injections` with the request's trace and span ids) and from the rows
whose details ``id`` names a fact (``register``, ``unregister``,
``streaming_knowledge_update``, ``streaming_knowledge_remove``). Works on every
:class:`~aga_otel.audit.base.AuditStore` (it only reads ``iter_entries``), and reports
whether the hash chain verifies, so an answer from an edited trail is visibly unreliable.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from typing import Any

from aga_otel.audit.base import AuditStore
from aga_otel.semconv import (
    AUDIT_OP_INJECT,
    FACT_OPERATIONS,
    INJECT_FACTS,
    INJECT_FACTS_DROPPED,
    INJECT_IDS_RECORDED,
    INJECT_INSTANCE,
    INJECT_LAYER,
    INJECT_SPAN_ID,
    INJECT_TRACE_ID,
)

__all__ = [
    "FactExplanation",
    "InjectedFact",
    "Provenance",
    "Reach",
    "TraceExplanation",
    "describe",
    "explain_fact",
    "explain_trace",
]

ORIGIN_REGISTER = "register"  # registered (and not removed) before the injection
ORIGIN_RETRIEVER = "retriever"  # written into the KV store by the retriever itself
_ADDS = frozenset({"register", "streaming_knowledge_update"})
_TRACE_ID = re.compile(r"[0-9a-f]{32}")


@dataclass
class Provenance:
    """One audit row that registered, updated or unregistered a fact."""

    seq: int
    operation: str
    timestamp: float
    success: bool
    error: str | None
    source: str  # the row's source, as aga-core's event named it ("aga-core")


@dataclass
class InjectedFact:
    """One fact injected into the request, with its provenance."""

    position: int  # 0-based, over the whole request, in injection order
    id: str | None  # None when ids were not recorded (knowledge_ids_enabled off)
    score: float | None
    layer: int | None
    timestamp: float
    seq: int  # the inject row
    span_id: str | None
    instance: str | None  # service.instance.id of the aga-otel that wrote the inject row
    origin: str | None  # "register", "retriever"; None without an id
    provenance: list[Provenance] = field(default_factory=list)


@dataclass
class TraceExplanation:
    trace_id: str
    injections: int  # inject rows under this trace
    facts: list[InjectedFact]
    facts_dropped: int  # facts beyond the configured cap, not listed
    ids_recorded: bool  # False when any inject row was written with ids off
    chain_ok: bool
    chain_problem: str | None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Reach:
    """One request a fact reached."""

    trace_id: str | None
    span_id: str | None
    timestamp: float
    seq: int
    layer: int | None
    score: float | None
    instance: str | None


@dataclass
class FactExplanation:
    fact_id: str
    history: list[Provenance]
    requests: list[Reach]
    chain_ok: bool
    chain_problem: str | None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def normalise_trace_id(text: str) -> str:
    """A trace id as 32 lowercase hex digits (``0x`` prefix and case accepted)."""
    tid = str(text).strip().lower().removeprefix("0x")
    if not _TRACE_ID.fullmatch(tid) or tid == "0" * 32:
        raise ValueError(f"not a trace id: {text!r} (32 hex digits, not all zero)")
    return tid


def _details(entry: dict) -> dict:
    d = entry.get("details")
    return d if isinstance(d, dict) else {}


def _provenance(entry: dict) -> Provenance:
    return Provenance(
        seq=entry["seq"],
        operation=entry["operation"],
        timestamp=entry["timestamp"],
        success=entry["success"] is True,
        error=entry.get("error"),
        source=entry.get("source", ""),
    )


def _history(store: AuditStore, ids: set[str]) -> dict[str, list[Provenance]]:
    """Every fact row naming one of ``ids``, oldest first, by id (one pass)."""
    out: dict[str, list[Provenance]] = {i: [] for i in ids}
    if not out:
        return out
    for entry in store.iter_entries():
        if entry.get("operation") in FACT_OPERATIONS:
            fid = _details(entry).get("id")
            if isinstance(fid, str) and fid in out:
                out[fid].append(_provenance(entry))
    return out


def origin(history: Iterable[Provenance], before_seq: int) -> str:
    """``register`` when the last successful add/remove row before the injection is an
    add; else ``retriever`` (retrieved facts are written without an audit row)."""
    present = False
    for p in history:
        if p.seq >= before_seq:
            break
        if p.success:
            present = p.operation in _ADDS
    return ORIGIN_REGISTER if present else ORIGIN_RETRIEVER


def _chain(store: AuditStore) -> tuple[bool, str | None]:
    report = store.verify()
    problem = None if report.ok else f"entry {report.seq} {report.problem}: {report.detail}"
    return report.ok, problem


def explain_trace(store: AuditStore, trace_id: str) -> TraceExplanation:
    """The facts injected under ``trace_id``, in order, each with its provenance."""
    tid = normalise_trace_id(trace_id)
    rows = [
        e
        for e in store.iter_entries()
        if e.get("operation") == AUDIT_OP_INJECT and _details(e).get(INJECT_TRACE_ID) == tid
    ]
    facts: list[InjectedFact] = []
    dropped, ids_recorded = 0, True
    for row in rows:
        d = _details(row)
        ids_recorded = ids_recorded and d.get(INJECT_IDS_RECORDED) is not False
        n = d.get(INJECT_FACTS_DROPPED)
        dropped += n if isinstance(n, int) and not isinstance(n, bool) else 0
        for doc in d.get(INJECT_FACTS) or ():
            doc = doc if isinstance(doc, dict) else {}
            fid = doc.get("id")
            facts.append(
                InjectedFact(
                    position=len(facts),
                    id=fid if isinstance(fid, str) else None,
                    score=doc.get("score"),
                    layer=d.get(INJECT_LAYER),
                    timestamp=row["timestamp"],
                    seq=row["seq"],
                    span_id=d.get(INJECT_SPAN_ID),
                    instance=d.get(INJECT_INSTANCE),
                    origin=None,
                )
            )
    history = _history(store, {f.id for f in facts if f.id is not None})
    for f in facts:
        if f.id is not None:
            f.provenance = history[f.id]
            f.origin = origin(f.provenance, f.seq)
    ok, problem = _chain(store)
    return TraceExplanation(tid, len(rows), facts, dropped, ids_recorded, ok, problem)


def explain_fact(store: AuditStore, fact_id: str) -> FactExplanation:
    """One fact's history (register/update/unregister rows) and the requests it reached."""
    fid = str(fact_id)
    requests: list[Reach] = []
    for e in store.iter_entries():
        if e.get("operation") != AUDIT_OP_INJECT:
            continue
        d = _details(e)
        for doc in d.get(INJECT_FACTS) or ():
            if isinstance(doc, dict) and doc.get("id") == fid:
                requests.append(
                    Reach(
                        trace_id=d.get(INJECT_TRACE_ID),
                        span_id=d.get(INJECT_SPAN_ID),
                        timestamp=e["timestamp"],
                        seq=e["seq"],
                        layer=d.get(INJECT_LAYER),
                        score=doc.get("score"),
                        instance=d.get(INJECT_INSTANCE),
                    )
                )
    ok, problem = _chain(store)
    return FactExplanation(fid, _history(store, {fid})[fid], requests, ok, problem)


def _when(ts: float) -> str:
    return datetime.fromtimestamp(ts, timezone.utc).isoformat(timespec="milliseconds")


def _score(value: Any) -> str:
    return f"{value:.3f}" if isinstance(value, (int, float)) else "-"


def _rows(history: list[Provenance], indent: str) -> list[str]:
    return [
        f"{indent}#{p.seq} {p.operation} {'ok' if p.success else 'FAILED'} {_when(p.timestamp)}"
        f" ({p.source})" + (f": {p.error}" if p.error else "")
        for p in history
    ]


def _plural(n: int, noun: str) -> str:
    return f"{n} {noun}" + ("" if n == 1 else "s")


def describe(report: TraceExplanation | FactExplanation) -> str:
    """A human-readable rendering of either explanation (the CLI's text format)."""
    lines = []
    if isinstance(report, TraceExplanation):
        lines.append(
            f"trace {report.trace_id}: {_plural(len(report.facts), 'fact')} injected "
            f"in {_plural(report.injections, 'retrieval')}"
            + (f" (+{report.facts_dropped} beyond the cap)" if report.facts_dropped else "")
        )
        if not report.ids_recorded:
            lines.append("fact ids were not recorded (knowledge_ids_enabled is off)")
        for f in report.facts:
            score = _score(f.score)
            lines.append(
                f"{f.position + 1}. {f.id or '<id not recorded>'} score {score} layer {f.layer}"
                f" at {_when(f.timestamp)} (#{f.seq}, span {f.span_id}, {f.instance})"
                + (f", from {f.origin}" if f.origin else "")
            )
            lines += _rows(f.provenance, "   ")
    else:
        lines.append(f"fact {report.fact_id}: {_plural(len(report.history), 'audit row')}")
        lines += _rows(report.history, "  ")
        lines.append(f"reached {_plural(len(report.requests), 'request')}")
        for r in report.requests:
            score = _score(r.score)
            # A retrieval outside any request span has no trace to name.
            where = f"trace {r.trace_id} span {r.span_id}" if r.trace_id else "outside a trace"
            lines.append(
                f"  {where} layer {r.layer}"
                f" score {score} at {_when(r.timestamp)} (#{r.seq}, {r.instance})"
            )
    lines.append(
        "hash chain: OK" if report.chain_ok else f"hash chain: BROKEN ({report.chain_problem})"
    )
    return "\n".join(lines)
