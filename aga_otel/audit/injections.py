"""Pure mapping: a ``retrieval`` event → its documents, and → one ``inject`` audit row.

aga-core's ``retrieval`` event carries ``ids`` and ``scores``: the facts the retriever wrote
into the KV store for that call (the first ``injected_count`` of the ranked results). The
same reading feeds the retrieval span (``gen_ai.retrieval.documents``), the retrieval log
record and the ``inject`` row of the audit trail, so all three agree on what was injected:

- at most ``limit`` documents are kept, the rest are counted (``facts_dropped``);
- with ``with_ids=False`` no fact id is kept anywhere, only positions and scores;
- ids are untrusted text (capped at 256 characters), scores finite numbers or left out.

The row's details hold the emitting thread's trace and span ids when a span was active
(``otel_span_context``, see :mod:`aga_otel.tracing.capture`); they are sanitised and
redacted like every audit row (:func:`aga_otel.audit.chain.make_record`) and hash-chained
with it, so every backend stores them unchanged. Runs on the bridge's worker thread.
"""

from __future__ import annotations

from typing import Any

# The one reading of values (mapping's helpers): an inject row, the log record and the
# metrics of one event read its numbers alike.
from aga_otel import mapping
from aga_otel.audit.chain import AuditRecord, make_record
from aga_otel.audit.sanitize import clean_text
from aga_otel.semconv import (
    AUDIT_OP_INJECT,
    INJECT_FACTS,
    INJECT_FACTS_DROPPED,
    INJECT_IDS_RECORDED,
    INJECT_INJECTED,
    INJECT_INSTANCE,
    INJECT_LAYER,
    INJECT_RESULTS,
    INJECT_SPAN_ID,
    INJECT_TRACE_ID,
    SPAN_CONTEXT_ATTR,
)

__all__ = ["MAX_ID_CHARS", "documents", "inject_record", "span_ids"]

MAX_ID_CHARS = 256  # a fact id longer than this is cut (and marked by clean_text)


def _seq(value: Any) -> list | tuple:
    return value if isinstance(value, (list, tuple)) else ()


def documents(
    ids: Any, scores: Any, limit: int, with_ids: bool = True, count: int | None = None
) -> tuple[list[dict], int]:
    """``ids``/``scores`` → ``([{"id", "score"}, ...], dropped)``, in the given order.

    ``count`` (when not None) keeps only the first ``count`` pairs (the injected ones);
    then at most ``limit`` documents are built and the remainder is returned as
    ``dropped``. Never iterates past what it keeps: a 1,000,000-id event costs ``limit``.
    """
    ids, scores = _seq(ids), _seq(scores)
    total = max(len(ids), len(scores))
    if count is not None:
        total = min(total, max(count, 0))
    kept = min(total, max(limit, 0))
    docs = []
    for i in range(kept):
        doc: dict[str, Any] = {}
        if with_ids and i < len(ids):
            doc["id"] = clean_text(ids[i], MAX_ID_CHARS)
        score = mapping.score(scores[i]) if i < len(scores) else None
        if score is not None:
            doc["score"] = score
        docs.append(doc)
    return docs, total - kept


def span_ids(event: Any) -> tuple[str, str] | None:
    """The emitter's ``(trace_id, span_id)`` as lowercase hex, or None without a span."""
    sc = getattr(event, SPAN_CONTEXT_ATTR, None)
    try:
        if sc is None or not sc.is_valid:
            return None
        return format(sc.trace_id, "032x"), format(sc.span_id, "016x")
    except Exception:  # not a SpanContext after all
        return None


def inject_record(
    event: Any,
    limit: int,
    with_ids: bool = True,
    redact_keys=(),
    max_detail_bytes: int = 16384,
    instance: str | None = None,
) -> AuditRecord | None:
    """The ``inject`` audit row of a retrieval event, or None when nothing was injected.

    A malformed event (``data`` not a dict, no usable ``injected_count`` and no ids) gives
    None: the log record and the metrics already count it as malformed.
    """
    data = getattr(event, "data", None)
    if not isinstance(data, dict):
        return None
    injected = mapping.count(data.get("injected_count"))
    ids, scores = data.get("ids"), data.get("scores")
    count = injected if injected is not None and injected >= 0 else None
    facts, dropped = documents(ids, scores, limit, with_ids, count)
    if not facts and not dropped and not injected:
        return None
    details: dict[str, Any] = {
        INJECT_LAYER: mapping.count(data.get("layer_idx")),
        INJECT_RESULTS: mapping.count(data.get("results_count")),
        INJECT_INJECTED: injected,
        INJECT_FACTS: facts,
        INJECT_FACTS_DROPPED: dropped,
        INJECT_IDS_RECORDED: bool(with_ids),
    }
    if instance:
        details[INJECT_INSTANCE] = instance
    ids_of_span = span_ids(event)
    if ids_of_span is not None:
        details[INJECT_TRACE_ID], details[INJECT_SPAN_ID] = ids_of_span
    return make_record(
        mapping.timestamp(getattr(event, "timestamp", None)) or 0.0,
        AUDIT_OP_INJECT,
        True,
        None,
        details,
        redact_keys,
        max_detail_bytes,
        getattr(event, "source", "aga-core"),
    )
