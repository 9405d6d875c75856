"""Pure mapping: a contract event → the fields of one span (no SDK objects, no I/O).

- ``retrieval`` → the GenAI retrieval span (``gen_ai.retrieval``, Development status; the
  version in :data:`aga_otel.semconv.GENAI_SEMCONV_VERSION`): named ``retrieval``
  (``{gen_ai.operation.name}``), ``gen_ai.operation.name=retrieval``,
  ``gen_ai.data_source.id`` when configured, and the layer and counts. The documents,
  ``gen_ai.retrieval.documents`` as a JSON string of ``[{"id", "score"}]``, are Opt-In as
  the convention makes them (``with_documents=True``): at most ``max_documents``, the rest
  counted in ``aga.retrieval.documents_dropped``. Instantaneous at the event time: the
  contract's retrieval event carries no duration. An event with an ``error`` (aga-core
  4.4 sends none) ends in error with ``error.type``.
- ``audit`` → ``aga.audit <operation>`` with the operation reduced to the closed set of
  :func:`aga_otel.mapping.operation_label` (span names must stay low-cardinality, see
  https://opentelemetry.io/docs/specs/otel/trace/api/#span); a failed operation has error
  status with its error text truncated, and ``error.type`` (:func:`error_type`). Timed at
  the operation's own timestamp; ``streaming_session_end`` lasts its ``elapsed_seconds``.
- ``forward`` → ``aga.forward`` ending at the event time, lasting the event's
  ``latency_us``; only when :class:`ForwardSampler` picks it.

Attribute and span names live in :mod:`aga_otel.semconv`; spans share the log records'
attributes (``aga.layer_idx`` …), so a span and the log record of the same event read alike.
"""

from __future__ import annotations

import json
import re
import time
from typing import Any, NamedTuple

from aga_otel.audit.injections import documents
from aga_otel.audit.sanitize import clean_text, redact_free_text
from aga_otel.mapping import (
    count,
    number,
    parse_audit,
    parse_forward,
    parse_retrieval,
    timestamp,
)
from aga_otel.semconv import (
    A_APPLIED,
    A_BUDGET,
    A_ENTROPY,
    A_GATE,
    A_INJECTED,
    A_LAYER,
    A_OPERATION,
    A_RESULTS,
    A_SUCCESS,
    AUDIT_SPAN_PREFIX,
    ERROR_TYPE_OTHER,
    FORWARD_SPAN,
    GENAI_OPERATION_RETRIEVAL,
    SPAN_ATTR_DOCUMENTS_DROPPED,
    SPAN_ATTR_ERROR_TYPE,
    SPAN_ATTR_GENAI_DATA_SOURCE,
    SPAN_ATTR_GENAI_DOCUMENTS,
    SPAN_ATTR_GENAI_OPERATION,
)

RETRIEVAL_SPAN = GENAI_OPERATION_RETRIEVAL  # span name SHOULD be {gen_ai.operation.name}
MAX_ERROR_CHARS = 256  # error text kept in a failed audit span's status description
# An error text that starts with an exception's class name ("ValueError: ...", "psycopg.
# OperationalError ...") gives that name as error.type; anything else is _OTHER, so the
# attribute stays low-cardinality as the convention asks (free text goes to the status).
_ERROR_CLASS = re.compile(r"([A-Za-z_][\w.]{0,80}(?:Error|Exception|Timeout|Interrupt|Exit))\b")
SESSION_END = "streaming_session_end"  # its details' elapsed_seconds time the span


class SpanSpec(NamedTuple):
    """Everything needed to create and end one span."""

    name: str
    start_ns: int
    end_ns: int
    attributes: dict[str, Any]
    error: str | None = None  # set: the span ends with error status and this description


def _time_ns(value: Any) -> int | None:
    """Event time (seconds since the epoch) → ns, or None when unusable."""
    value = timestamp(value)
    if value is None:
        return None
    # Whole seconds and fraction apart: value * 1e9 as one double would lose ~100 ns.
    whole = int(value)
    return whole * 1_000_000_000 + round((value - whole) * 1e9)


def event_time_ns(event: Any) -> int:
    """The event's timestamp in ns; now when it has none (a malformed event)."""
    ts = _time_ns(getattr(event, "timestamp", None))
    return ts if ts is not None else time.time_ns()


def error_type(error: Any) -> str:
    """``error.type`` for an error text: its leading exception class name, else ``_OTHER``."""
    m = _ERROR_CLASS.match(error) if isinstance(error, str) else None
    return m.group(1) if m else ERROR_TYPE_OTHER


def _error_text(raw: Any) -> str:
    return redact_free_text(clean_text(raw, MAX_ERROR_CHARS)) if raw else "operation failed"


def retrieval_span(
    event: Any,
    max_layers: int,
    max_documents: int = 32,
    ids_enabled: bool = True,
    with_documents: bool = False,
    data_source_id: str | None = None,
) -> SpanSpec | None:
    """``with_documents``: record ``gen_ai.retrieval.documents`` (Opt-In in the convention);
    ``ids_enabled=False`` leaves the ids out of them (scores only)."""
    data = getattr(event, "data", None)
    r = parse_retrieval(data, max_layers)
    if r is None:
        return None
    attrs: dict[str, Any] = {
        SPAN_ATTR_GENAI_OPERATION: GENAI_OPERATION_RETRIEVAL,
        A_LAYER: r.layer,
        A_RESULTS: r.results,
        A_INJECTED: r.injected,
    }
    if data_source_id:
        attrs[SPAN_ATTR_GENAI_DATA_SOURCE] = data_source_id
    budget = count(data.get("budget_remaining"))
    if budget is not None:
        attrs[A_BUDGET] = budget
    if with_documents:
        docs, dropped = documents(data.get("ids"), data.get("scores"), max_documents, ids_enabled)
        if docs or dropped:
            attrs[SPAN_ATTR_GENAI_DOCUMENTS] = json.dumps(docs, separators=(",", ":"))
            attrs[SPAN_ATTR_DOCUMENTS_DROPPED] = dropped
    error = None
    raw = data.get("error")
    if raw:
        error = _error_text(raw)
        attrs[SPAN_ATTR_ERROR_TYPE] = error_type(raw)
    ts = event_time_ns(event)
    return SpanSpec(RETRIEVAL_SPAN, ts, ts, attrs, error)


def audit_span(event: Any) -> SpanSpec | None:
    data = getattr(event, "data", None)
    a = parse_audit(data)
    if a is None:
        return None
    ts = _time_ns(data.get("timestamp"))
    if ts is None:
        ts = event_time_ns(event)
    attrs: dict[str, Any] = {A_OPERATION: a.operation, A_SUCCESS: a.success}
    error = None
    if not a.success:
        raw = data.get("error")
        error = _error_text(raw)
        attrs[SPAN_ATTR_ERROR_TYPE] = error_type(raw)
    start = ts - _session_ns(data) if a.operation == SESSION_END else ts
    return SpanSpec(AUDIT_SPAN_PREFIX + a.operation, start, ts, attrs, error)


def _session_ns(data: dict) -> int:
    """A streaming session's length from its end event (``details.elapsed_seconds``), 0 when
    absent or unusable (negative, NaN, longer than a year)."""
    details = data.get("details")
    elapsed = number(details.get("elapsed_seconds")) if isinstance(details, dict) else None
    if elapsed is None or not 0.0 <= elapsed <= 366 * 86400:
        return 0
    return round(elapsed * 1e9)


def forward_span(event: Any, max_layers: int) -> SpanSpec | None:
    s = parse_forward(getattr(event, "data", None), max_layers)
    if s is None:
        return None
    end = event_time_ns(event)
    attrs = {A_LAYER: s.layer, A_APPLIED: s.applied, A_GATE: s.gate, A_ENTROPY: s.entropy}
    return SpanSpec(FORWARD_SPAN, end - round(s.duration_s * 1e9), end, attrs)


class ForwardSampler:
    """Counter-based sampling of forward events, per layer.

    Each layer accumulates ``rate`` per event and is sampled whenever the credit reaches
    one: exactly ``rate`` of every layer's events, evenly spaced, the first one included.
    Per layer, because events arrive round-robin over the hooked layers: one shared counter
    at a rate of 1/32 would pick the same layer of a 32-layer model every time.
    """

    _EPS = 1e-9  # absorbs float drift (0.1 added ten times is 0.9999999999999999)

    def __init__(self, rate: float) -> None:
        self.rate = float(rate) if rate and rate > 0 else 0.0
        self._credit: dict[int, float] = {}

    def sample(self, layer: int) -> bool:
        rate = self.rate
        if rate <= 0.0:
            return False
        credit = self._credit.get(layer, 1.0 - rate) + rate
        if credit >= 1.0 - self._EPS:
            self._credit[layer] = credit - 1.0
            return True
        self._credit[layer] = credit
        return False
