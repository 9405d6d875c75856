"""The trace sink: contract events → spans, exported over OTLP by its own TracerProvider.

The ``TracerProvider`` is private to the pipeline and never installed globally (the
serving framework owns the global one; ours only carries AGA spans). With an application's
``TracerProvider`` (``AgaInstrumentor(tracer_provider=...)``) the spans are created on a
tracer of that provider instead (scope ``aga_otel.tracing``: its resource, sampler and
processors) and aga-otel builds no OTLP span exporter of its own; the application's
provider is never flushed or shut down from here. It honours the SDK's
``OTEL_TRACES_SAMPLER``/``OTEL_TRACES_SAMPLER_ARG`` (default: parent-based always-on, so
a request span that was not sampled gets no sampled AGA children) and the span limits'
``OTEL_*`` variables. Spans are created on the bridge's worker thread with explicit
parents and timestamps taken from the events, never from the worker's clock or context.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter

from aga_otel._version import __version__
from aga_otel.config import ObservabilityConfig
from aga_otel.exporters.otlp import create_span_exporter, signal_enabled, signal_endpoint
from aga_otel.exporters.reporting import ReportingExporter, run_bounded
from aga_otel.redaction import redact_text, redact_url
from aga_otel.semconv import A_LAYER, A_MODEL_TYPE, EVENT_AUDIT, EVENT_FORWARD, EVENT_RETRIEVAL
from aga_otel.status import StatusBoard
from aga_otel.tracing import spans
from aga_otel.tracing.capture import ROOT_CONTEXT, SPAN_CONTEXT_ATTR, SpanContextCache
from aga_otel.tracing.exporter import COMPONENT, StatusReportingSpanExporter

logger = logging.getLogger(__name__)

SCOPE_NAME = "aga_otel.tracing"
_ERROR = trace.StatusCode.ERROR


class TracingPipeline:
    """An ``EventSink`` turning retrieval, audit and sampled forward events into spans.

    With no exporter (tracing on, but no traces endpoint and no extra exporter) it creates
    no spans at all; context capture still feeds log records and exemplars.
    """

    name = "traces"

    def __init__(
        self,
        config: ObservabilityConfig,
        status: StatusBoard,
        resource: Resource,
        exporters: Sequence[SpanExporter] = (),
        app_provider: Any = None,
        model: Callable[[], str | None] = lambda: None,
    ) -> None:
        self.model = model  # the bound plugin's model_type, or None
        self.max_layers = config.max_layers
        self.max_documents = config.knowledge_max_documents
        self.ids_enabled = config.knowledge_ids_enabled
        self.with_documents = config.trace_retrieval_documents
        self.data_source_id = config.retrieval_data_source_id
        self.sampler = spans.ForwardSampler(config.trace_forward_sample_rate)
        # Never set as the global provider: see the module docstring.
        self.tracer_provider = TracerProvider(resource=resource, shutdown_on_exit=False)
        self.otlp: ReportingExporter | None = None
        outputs: list[SpanExporter] = list(exporters)
        if app_provider is None and signal_enabled(config, "traces"):
            endpoint = signal_endpoint(config, "traces") or "default OTLP endpoint"
            try:
                self.otlp = StatusReportingSpanExporter(
                    create_span_exporter(config), status, endpoint
                )
                outputs.append(self.otlp)
            except Exception as exc:  # e.g. unreadable TLS files: degrade, keep the rest
                error = redact_text(str(exc))
                logger.error(
                    "OTLP span exporter for %s not started: %s", redact_url(endpoint), error
                )
                status.failure(COMPONENT, f"not started: {error}")
        for exporter in outputs:
            self.tracer_provider.add_span_processor(
                BatchSpanProcessor(exporter, schedule_delay_millis=1000)
            )
        self.exporting = bool(outputs) or app_provider is not None
        tracing_to = self.tracer_provider if app_provider is None else app_provider
        self.tracer = tracing_to.get_tracer(SCOPE_NAME, __version__)
        self._parents = SpanContextCache()
        self.spans_started = self.malformed = self.errors = 0
        self._shut = False

    # --- EventSink ---------------------------------------------------------------------------
    def handle_batch(self, events: Sequence) -> None:
        """Create one span per retrieval/audit event and per sampled forward event."""
        if not self.exporting:
            return
        sample, max_layers = self.sampler.sample, self.max_layers
        model = self.model()
        for event in events:
            try:
                etype = getattr(event, "type", None)
                if etype == EVENT_FORWARD:
                    if self.sampler.rate <= 0.0:
                        continue
                    spec = spans.forward_span(event, max_layers)
                    if spec is not None and not sample(spec.attributes[A_LAYER]):
                        continue  # not sampled (a malformed one is counted below)
                elif etype == EVENT_RETRIEVAL:
                    spec = spans.retrieval_span(
                        event, max_layers, self.max_documents, self.ids_enabled,
                        self.with_documents, self.data_source_id,
                    )  # fmt: skip
                elif etype == EVENT_AUDIT:
                    spec = spans.audit_span(event)
                else:
                    continue
                if spec is None:
                    self.malformed += 1
                    continue
                if model is not None:
                    spec.attributes[A_MODEL_TYPE] = model
                self._start_and_end(spec, getattr(event, SPAN_CONTEXT_ATTR, None))
            except Exception as exc:  # one bad event must not cost the rest of the batch
                self.errors += 1
                if self.errors == 1:
                    logger.exception("aga-otel trace pipeline could not map an event: %r", exc)

    def _start_and_end(self, spec: spans.SpanSpec, span_context: Any) -> None:
        parent = self._parents.get(span_context) or ROOT_CONTEXT
        span = self.tracer.start_span(
            spec.name,
            context=parent,
            kind=trace.SpanKind.INTERNAL,
            attributes=spec.attributes,
            start_time=spec.start_ns,
        )
        if spec.error is not None:
            span.set_status(trace.Status(_ERROR, spec.error))
        span.end(end_time=spec.end_ns)
        self.spans_started += 1

    # --- lifecycle ---------------------------------------------------------------------------
    def flush(self, timeout: float = 5.0) -> bool:
        """Export every ended span now."""
        return self.tracer_provider.force_flush(int(timeout * 1000))

    def shutdown(self, timeout: float = 5.0) -> None:
        """Export what is queued and stop, within ``timeout`` seconds (idempotent)."""
        if self._shut:
            return
        self._shut = True
        run_bounded(self.tracer_provider.shutdown, timeout, "span-exporters")

    def retire_inherited(self, timeout: float) -> None:
        """In a forked child: stop the inherited span processors' threads (the SDK
        restarted them), exporting nothing; the exporters' connections are the parent's."""
        self._shut = True
        run_bounded(self.tracer_provider.shutdown, timeout, "span-exporters")

    def stats(self) -> dict:
        out: dict[str, Any] = {
            "spans_started": self.spans_started,
            "malformed": self.malformed,
            "errors": self.errors,
        }
        if self.otlp is not None:
            out["otlp"] = {"exported": self.otlp.exported, "failed": self.otlp.failed}
        return out


def build_tracing(
    config: ObservabilityConfig,
    status: StatusBoard,
    resource: Resource,
    exporters: Sequence[SpanExporter] = (),
    *,
    app_provider: Any = None,
    model: Callable[[], str | None] = lambda: None,
) -> TracingPipeline | None:
    """The factory ``ObservabilityStack`` calls: None when ``config.tracing_enabled`` is off.

    Span export over OTLP is on when a traces endpoint is configured (``otlp_traces_endpoint``
    or ``otlp_endpoint``, incl. ``OTEL_EXPORTER_OTLP_*``); ``exporters`` adds others (tests,
    console) on aga-otel's own provider. ``app_provider``: an application's
    ``TracerProvider`` (see the module docstring); ``model``: the bound plugin's
    ``model_type`` (or None), put on every span as ``aga.model.type``. The bridge must
    capture context too: ``EventBridge(..., capture_context=True)``.
    """
    if not config.tracing_enabled:
        return None
    return TracingPipeline(config, status, resource, exporters, app_provider, model)
