"""Pure mapping: a contract event → the fields of one OpenTelemetry log record.

No I/O and no SDK objects here, so the mapping is tested with plain input→output tables.
Severity is decided from the event type alone (plus ``success`` for audit events), so the
level filter can run before anything else is built.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from aga_otel.audit.chain import AuditRecord, make_record
from aga_otel.audit.sanitize import clean_text
from aga_otel.config import ObservabilityConfig
from aga_otel.mapping import (
    MAX_LATENCY_US,
    MAX_VALUE,
    bounded,
    count,
    parse_audit,
    parse_forward,
    parse_retrieval,
    score,
    timestamp,
)
from aga_otel.semconv import (  # noqa: F401 - the names are re-exported from here too
    A_APPLIED,
    A_BUDGET,
    A_DETAILS,
    A_ENTROPY,
    A_ERROR,
    A_EVENT_TYPE,
    A_GATE,
    A_IDS,
    A_INJECTED,
    A_LATENCY,
    A_LAYER,
    A_MALFORMED,
    A_MODEL_TYPE,
    A_OPERATION,
    A_RESULTS,
    A_SCORES,
    A_SOURCE,
    A_SUCCESS,
    AUDIT_EVENT_NAME,
    EVENT_AUDIT,
    EVENT_FORWARD,
    EVENT_NAME_PREFIX,
    EVENT_RETRIEVAL,
    SPAN_CONTEXT_ATTR,
    UNKNOWN_EVENT_NAME,
)

# OpenTelemetry SeverityNumber values (https://opentelemetry.io/docs/specs/otel/logs/data-model/#field-severitynumber),
# kept as ints so this module stays free of the unstable logs API.
DEBUG, INFO, WARN, ERROR, FATAL = 5, 9, 13, 17, 21
SEVERITY_TEXT = {DEBUG: "DEBUG", INFO: "INFO", WARN: "WARN", ERROR: "ERROR", FATAL: "FATAL"}
LEVEL_SEVERITY = {"DEBUG": DEBUG, "INFO": INFO, "WARNING": WARN, "ERROR": ERROR,
                  "CRITICAL": FATAL}  # fmt: skip

_MAX_LIST = 64  # retrieval ids/scores kept per record
DEFAULT_MAX_LAYERS = ObservabilityConfig.max_layers  # the metrics' layer bound by default


@dataclass
class RecordSpec:
    """Everything needed to emit one log record (and, for audit, the stored record)."""

    event_name: str
    severity: int
    timestamp_ns: int
    body: str
    attributes: dict[str, Any] = field(default_factory=dict)
    span_context: Any = None
    audit: AuditRecord | None = None
    malformed: bool = False

    @property
    def severity_text(self) -> str:
        return SEVERITY_TEXT[self.severity]


def severity_of(event_type: Any, data: Any) -> int:
    """Forward DEBUG, retrieval INFO, audit INFO (WARN when it failed), others INFO."""
    if event_type == EVENT_FORWARD:
        return DEBUG
    if event_type == EVENT_AUDIT:
        ok = isinstance(data, dict) and data.get("success") is True
        return INFO if ok else WARN
    return INFO


def _timestamp(event: Any) -> float:
    return timestamp(getattr(event, "timestamp", None)) or 0.0


def build(
    event: Any,
    severity: int,
    redact_keys=(),
    max_detail_bytes: int = 16384,
    max_documents: int = _MAX_LIST,
    ids_enabled: bool = True,
    max_layers: int = DEFAULT_MAX_LAYERS,
) -> RecordSpec:
    """Map one event (already past the level filter) to a :class:`RecordSpec`.

    A retrieval record keeps at most ``max_documents`` ids and scores, and no ids at all
    with ``ids_enabled=False`` (``knowledge_*`` settings, see docs/knowledge-attribution.md).
    Values are read by :mod:`aga_otel.mapping`'s helpers, and a record is ``malformed``
    exactly when the metrics would drop its event as malformed (same parser, same bounds).
    """
    etype = getattr(event, "type", None)
    data = getattr(event, "data", None)
    ts = _timestamp(event)
    spec = RecordSpec(
        event_name=EVENT_NAME_PREFIX + etype
        if etype in (EVENT_FORWARD, EVENT_RETRIEVAL, EVENT_AUDIT)
        else UNKNOWN_EVENT_NAME,
        severity=severity,
        timestamp_ns=int(ts * 1e9),
        body="",
        span_context=getattr(event, SPAN_CONTEXT_ATTR, None),
    )
    attrs = spec.attributes
    attrs[A_EVENT_TYPE] = clean_text(etype, 128)
    attrs[A_SOURCE] = clean_text(getattr(event, "source", "aga-core"), 128)
    if not isinstance(data, dict):
        spec.malformed = True
        attrs[A_MALFORMED] = True
        data = {"value": data}
    if etype == EVENT_FORWARD:
        _forward(spec, data, max_layers)
    elif etype == EVENT_RETRIEVAL:
        _retrieval(spec, data, max_documents, ids_enabled, max_layers)
    elif etype == EVENT_AUDIT:
        _audit(spec, data, ts, redact_keys, max_detail_bytes)
    else:
        spec.body = f"aga event {attrs[A_EVENT_TYPE]}"
    return spec


def _forward(spec: RecordSpec, d: dict, max_layers: int) -> None:
    layer, gate, entropy, lat = (
        count(d.get("layer_idx")),
        bounded(d.get("gate_mean"), MAX_VALUE),
        bounded(d.get("entropy_mean"), MAX_VALUE),
        bounded(d.get("latency_us"), MAX_LATENCY_US),
    )
    applied = d.get("aga_applied")
    for key, value in ((A_LAYER, layer), (A_GATE, gate), (A_ENTROPY, entropy), (A_LATENCY, lat)):
        if value is not None:
            spec.attributes[key] = value
    if isinstance(applied, bool):
        spec.attributes[A_APPLIED] = applied
    spec.malformed = spec.malformed or parse_forward(d, max_layers) is None
    verb = "applied" if applied is True else "bypassed"
    spec.body = f"layer {layer} forward {verb}"
    if gate is not None and entropy is not None:
        spec.body += f" (gate {gate:.3f}, entropy {entropy:.3f})"


def _retrieval(
    spec: RecordSpec, d: dict, max_documents: int, ids_enabled: bool, max_layers: int
) -> None:
    layer, results, injected = (
        count(d.get("layer_idx")),
        count(d.get("results_count")),
        count(d.get("injected_count")),
    )
    budget = count(d.get("budget_remaining"))
    for key, value in (
        (A_LAYER, layer),
        (A_RESULTS, results),
        (A_INJECTED, injected),
        (A_BUDGET, budget),
    ):
        if value is not None:
            spec.attributes[key] = value
    ids, scores = d.get("ids"), d.get("scores")
    if ids_enabled and isinstance(ids, (list, tuple)):
        spec.attributes[A_IDS] = [clean_text(i, 256) for i in ids[:max_documents]]
    if isinstance(scores, (list, tuple)):
        kept = scores[:max_documents]
        spec.attributes[A_SCORES] = [s for s in map(score, kept) if s is not None]
    spec.malformed = spec.malformed or parse_retrieval(d, max_layers) is None
    spec.body = f"layer {layer} retrieval: {injected} of {results} results injected"


def _audit(spec: RecordSpec, d: dict, event_ts: float, redact_keys, max_bytes: int) -> None:
    op = d.get("operation")
    if not isinstance(op, str) or not op or parse_audit(d) is None:
        spec.malformed = True
        op = "<missing>" if op is None else op
    record = make_record(
        timestamp(d.get("timestamp")) or event_ts,
        op,
        d.get("success"),
        d.get("error"),
        d.get("details"),
        redact_keys,
        max_bytes,
        spec.attributes[A_SOURCE],
    )
    spec.audit = record
    # The operation's own time is the record's time (the event's is when it was emitted).
    spec.timestamp_ns = int(record.timestamp * 1e9)
    spec.attributes.update(
        {A_OPERATION: record.operation, A_SUCCESS: record.success, A_DETAILS: record.details_json}
    )
    if record.error is not None:
        spec.attributes[A_ERROR] = record.error
    outcome = "succeeded" if record.success else "failed"
    spec.body = f"audit {record.operation} {outcome}"
    if record.error:
        spec.body += f": {record.error[:200]}"
