"""Trace-context capture: what the emitting thread hands over, and what sinks then see.

On the hot path (:meth:`aga_otel.bridge.EventBridge.handle_traced`) the bridge only reads
the emitting thread's current OpenTelemetry ``Context`` — one context-variable read,
about 60 ns — and queues ``(event, context)``. Everything else happens here, on the
worker thread: :func:`unwrap_batch` looks the span up in that context and, when it is
valid, presents sinks a :class:`TracedEvent` carrying its ``SpanContext`` in the
documented side attribute ``otel_span_context``. aga-core's ``Event`` is never mutated: it
may use ``__slots__`` and is shared with every other subscriber.

Consecutive events of one request share one ``Context`` object (the context variable does
not change while the request span stays current), so the lookup is cached by identity.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from opentelemetry import trace
from opentelemetry.context import Context

from aga_otel.semconv import SPAN_CONTEXT_ATTR

__all__ = ["SPAN_CONTEXT_ATTR", "SpanContextCache", "TracedEvent", "unwrap_batch"]

# A context holding the invalid span: API calls given it never fall back to the worker
# thread's own current context (which is never the emitter's).
ROOT_CONTEXT = trace.set_span_in_context(trace.INVALID_SPAN, Context())


class TracedEvent:
    """An Event-like view of a contract event plus the emitter's span context.

    Carries the fields sinks read (``type``, ``timestamp``, ``data``, ``source``) and
    ``otel_span_context``; ``event`` is the original object, untouched.
    """

    __slots__ = ("event", "type", "timestamp", "data", "source", SPAN_CONTEXT_ATTR)

    def __init__(self, event: Any, span_context: trace.SpanContext) -> None:
        self.event = event
        # Missing fields become None (the default every sink already uses for them).
        self.type = getattr(event, "type", None)
        self.timestamp = getattr(event, "timestamp", None)
        self.data = getattr(event, "data", None)
        self.source = getattr(event, "source", "aga-core")
        self.otel_span_context = span_context

    def __repr__(self) -> str:
        return f"TracedEvent({self.event!r}, trace_id={self.otel_span_context.trace_id:032x})"


def _span_context_of(ctx: Any) -> trace.SpanContext | None:
    """The valid SpanContext of the span current in ``ctx``, else None; never raises."""
    if not isinstance(ctx, Context):
        return None
    try:
        sc = trace.get_current_span(ctx).get_span_context()
    except Exception:  # a third-party Span implementation misbehaving
        return None
    return sc if isinstance(sc, trace.SpanContext) and sc.is_valid else None


def unwrap_batch(items: Iterable[tuple[Any, Any]]) -> list:
    """``(event, captured Context)`` pairs → events, traced ones as :class:`TracedEvent`."""
    out = []
    append = out.append
    last_ctx: Any = None
    last_sc: trace.SpanContext | None = None
    for item in items:
        # Anything but a pair came from somewhere else (``handle`` called directly): as is.
        if type(item) is not tuple or len(item) != 2:
            append(item)
            continue
        event, ctx = item
        if ctx is not last_ctx:
            last_ctx, last_sc = ctx, _span_context_of(ctx)
        if last_sc is None:
            append(event)
            continue
        try:
            append(TracedEvent(event, last_sc))
        except Exception:  # an event whose attribute access raises: the sinks count it
            append(event)
    return out


class SpanContextCache:
    """SpanContext → a ``Context`` whose current span is it (as a non-recording span).

    Used as the parent of AGA spans and as the measurement context of exemplars. Events of
    one request carry the same SpanContext object, so one entry (by identity) is enough;
    anything that is not a valid SpanContext maps to ``None``.
    """

    __slots__ = ("_sc", "_ctx")

    def __init__(self) -> None:
        self._sc: Any = None
        self._ctx: Context | None = None

    def get(self, span_context: Any) -> Context | None:
        if span_context is self._sc:
            return self._ctx
        ctx = None
        if isinstance(span_context, trace.SpanContext) and span_context.is_valid:
            ctx = trace.set_span_in_context(trace.NonRecordingSpan(span_context), Context())
        self._sc, self._ctx = span_context, ctx
        return ctx
