"""Traces: spans for AGA work, and the emitter's trace context on logs and exemplars.

Usage::

    from aga_otel.bridge import EventBridge
    from aga_otel.tracing import build_tracing

    tracing = build_tracing(config, status_board, resource)   # None unless tracing_enabled
    sinks = [recorder, log_pipeline] + ([tracing] if tracing else [])
    bridge = EventBridge(sinks, capture_context=tracing is not None)
    ...
    tracing.shutdown(5.0)

With ``capture_context`` the bridge records the emitting thread's OpenTelemetry context
with each event; sinks then see events of an active span as :class:`TracedEvent` with
``otel_span_context`` set: log records carry its trace and span ids, AGA spans become its
children and ``aga.forward.duration`` exemplars point at it. Nothing here installs a global
provider.
"""

from aga_otel.tracing.capture import SPAN_CONTEXT_ATTR, TracedEvent
from aga_otel.tracing.pipeline import TracingPipeline, build_tracing

__all__ = ["SPAN_CONTEXT_ATTR", "TracedEvent", "TracingPipeline", "build_tracing"]
