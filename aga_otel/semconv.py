"""The one table of names: metrics, attributes, event types, audit operations.

The code that creates instruments, the README's metric table, the Grafana dashboards and
the Prometheus alert rules all read from here; nothing else spells a metric name.

Prometheus names follow the OpenTelemetry → Prometheus compatibility rules
(https://opentelemetry.io/docs/specs/otel/compatibility/prometheus_and_openmetrics/):
dots become underscores, unit ``s`` appends ``_seconds``, monotonic counters append
``_total``. Dimensionless instruments carry no unit at all (not ``1``), because the
Collector's Prometheus exporter appends ``_ratio`` to unit-``1`` gauges and the names
must be identical whether scraped directly or through a Collector.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

# --- event types (aga-core 4.4 contract) -------------------------------------------------
EVENT_FORWARD = "forward"
EVENT_RETRIEVAL = "retrieval"
EVENT_AUDIT = "audit"
KNOWN_EVENT_TYPES = frozenset({EVENT_FORWARD, EVENT_RETRIEVAL, EVENT_AUDIT})

# --- metric attribute names (small closed sets only) ---------------------------------------
ATTR_LAYER = "layer"
ATTR_APPLIED = "applied"
ATTR_OPERATION = "operation"
ATTR_SUCCESS = "success"
ATTR_REASON = "reason"
ATTR_EXPORTER = "exporter"
ATTR_RULE = "rule"
ATTR_SEVERITY = "severity"
ATTR_COMPONENT = "component"
ATTR_MODEL = "model"  # aga_model_info only: the bound plugin's model_type (one per process)

# --- resource attributes -----------------------------------------------------------------
RESOURCE_MODEL = "model"  # config model_name, or OTEL_RESOURCE_ATTRIBUTES model=

# Audit operation names aga-core 4.4 is known to emit; anything else maps to "other" so a
# stray name cannot explode cardinality.
KNOWN_AUDIT_OPERATIONS = frozenset(
    {
        "register",
        "register_batch",
        "unregister",
        "load_from",
        "clear",
        "attach",
        "detach",
        "streaming_session_start",
        "streaming_knowledge_update",
        "streaming_knowledge_remove",
        "streaming_session_end",
        "config_change",
    }
)
OTHER_OPERATION = "other"

# Drop reasons for aga_otel_events_dropped_total{reason}.
DROP_QUEUE_FULL = "queue_full"
DROP_MALFORMED = "malformed"
DROP_UNKNOWN_TYPE = "unknown_type"
DROP_AUDIT_QUEUE_FULL = "audit_queue_full"  # the audit lane was full: audit records lost
DROP_SHUTDOWN = "shutdown"  # still queued when shutdown's deadline passed
# Audit records the writer accepted but could not store: its backlog overflowed while the
# store failed (or was slower than the audit rate), or shutdown ended with them unwritten.
DROP_AUDIT_BACKLOG_FULL = "audit_backlog_full"
DROP_AUDIT_UNWRITTEN = "audit_unwritten"
DROP_REASONS = (DROP_QUEUE_FULL, DROP_MALFORMED, DROP_UNKNOWN_TYPE, DROP_AUDIT_QUEUE_FULL,
                DROP_SHUTDOWN, DROP_AUDIT_BACKLOG_FULL, DROP_AUDIT_UNWRITTEN)  # fmt: skip

METER_NAME = "aga_otel"


class Kind(str, Enum):
    COUNTER = "counter"
    HISTOGRAM = "histogram"
    GAUGE = "gauge"  # observable gauge, read at collection time
    UPDOWN = "updown"  # observable up-down counter (exported as a gauge)


@dataclass(frozen=True)
class MetricSpec:
    """One metric: its OpenTelemetry instrument and its Prometheus name."""

    key: str
    name: str  # OpenTelemetry instrument name
    kind: Kind
    unit: str
    description: str
    attributes: tuple[str, ...] = ()
    buckets: tuple[float, ...] | None = None
    legacy: str | None = None  # aga-observability 1.0 series name, if any

    @property
    def prometheus_name(self) -> str:
        """The Prometheus family/sample name under the OTel compatibility rules."""
        base = self.name.replace(".", "_")
        suffix = {"s": "_seconds", "By": "_bytes"}.get(self.unit, "")  # {annotation}: none
        if suffix and not base.endswith(suffix):
            base += suffix
        if self.kind is Kind.COUNTER:
            base += "_total"
        return base

    @property
    def is_histogram(self) -> bool:
        return self.kind is Kind.HISTOGRAM


# Bucket boundaries chosen for each histogram's real range.
DURATION_BUCKETS_S = (
    5e-6, 1e-5, 2.5e-5, 5e-5, 7.5e-5, 1e-4, 2.5e-4, 5e-4, 7.5e-4,
    1e-3, 2.5e-3, 5e-3, 7.5e-3, 1e-2, 2.5e-2, 5e-2,
)  # fmt: skip
UNIT_INTERVAL_BUCKETS = tuple(round(0.05 * i, 2) for i in range(1, 21))  # 0.05 .. 1.0
ENTROPY_BUCKETS = (0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 2.5, 3.0, 3.5, 4.0, 4.5, 5.0, 5.5, 6.0, 7.0, 8.0)
SCORE_BUCKETS = tuple(round(0.1 * i, 1) for i in range(1, 11))  # 0.1 .. 1.0

_L = (ATTR_LAYER,)

METRICS: tuple[MetricSpec, ...] = (
    # --- AGA behaviour, from events --------------------------------------------------------
    MetricSpec("forward", "aga.forward", Kind.COUNTER, "",
               "Forward passes through hooked layers, applied or bypassed",
               (ATTR_LAYER, ATTR_APPLIED), legacy="aga_forward_total"),
    MetricSpec("retrieval", "aga.retrieval", Kind.COUNTER, "",
               "Retriever calls", _L, legacy="aga_retrieval_total"),
    MetricSpec("retrieval_results", "aga.retrieval.results", Kind.COUNTER, "",
               "Knowledge items returned by the retriever", _L),
    MetricSpec("retrieval_injected", "aga.retrieval.injected", Kind.COUNTER, "",
               "Retrieved knowledge items injected into attention", _L,
               legacy="aga_retrieval_injected_total"),
    MetricSpec("audit_operations", "aga.audit.operations", Kind.COUNTER, "",
               "Knowledge and lifecycle operations", (ATTR_OPERATION, ATTR_SUCCESS),
               legacy="aga_audit_operations_total"),
    MetricSpec("forward_duration", "aga.forward.duration", Kind.HISTOGRAM, "s",
               "AGA's own time in a hooked layer per forward step", _L,
               DURATION_BUCKETS_S, legacy="aga_forward_latency_us"),
    MetricSpec("gate_value", "aga.gate.value", Kind.HISTOGRAM, "",
               "Mean gate value per forward step (0..1)", _L, UNIT_INTERVAL_BUCKETS,
               legacy="aga_gate_value"),
    MetricSpec("entropy_value", "aga.entropy.value", Kind.HISTOGRAM, "",
               "Mean attention entropy per forward step", _L, ENTROPY_BUCKETS,
               legacy="aga_entropy_value"),
    MetricSpec("retrieval_score", "aga.retrieval.score", Kind.HISTOGRAM, "",
               "Relevance score of retrieved knowledge (0..1)", (), SCORE_BUCKETS,
               legacy="aga_retrieval_score"),
    MetricSpec("activation_rate", "aga.activation_rate", Kind.GAUGE, "",
               "Share of forward steps where AGA applied, over the last 60 s", (),
               legacy="aga_activation_rate"),
    # --- read from the bound plugin --------------------------------------------------------
    MetricSpec("knowledge_count", "aga.knowledge.count", Kind.GAUGE, "",
               "Knowledge items in the store", (), legacy="aga_knowledge_count"),
    MetricSpec("knowledge_utilization", "aga.knowledge.utilization", Kind.GAUGE, "",
               "Knowledge store utilisation (0..1)", (), legacy="aga_knowledge_utilization"),
    MetricSpec("knowledge_pinned_count", "aga.knowledge.pinned_count", Kind.GAUGE, "",
               "Pinned knowledge items", (), legacy="aga_knowledge_pinned_count"),
    MetricSpec("slot_change_rate", "aga.slot_change_rate", Kind.GAUGE, "",
               "Knowledge slot change rate reported by slot governance", (),
               legacy="aga_slot_change_rate"),
    MetricSpec("build_info", "aga.build.info", Kind.GAUGE, "",
               "aga-core build information (value is always 1)",
               ("version", "hidden_dim", "bottleneck_dim", "max_slots", "device"),
               legacy="aga_build_info"),
    MetricSpec("model_info", "aga.model.info", Kind.GAUGE, "",
               "The bound plugin's model (get_diagnostics()['model_type']; value is always 1)",
               (ATTR_MODEL,)),
    # --- the telemetry pipeline itself ----------------------------------------------------
    MetricSpec("events_received", "aga_otel.events.received", Kind.COUNTER, "",
               "Events handed to aga-otel by the event bus"),
    MetricSpec("events_dropped", "aga_otel.events.dropped", Kind.COUNTER, "",
               "Events not turned into telemetry, by reason", (ATTR_REASON,)),
    MetricSpec("queue_depth", "aga_otel.queue.depth", Kind.GAUGE, "",
               "Events waiting in the hand-over queue"),
    MetricSpec("export_failures", "aga_otel.export.failures", Kind.COUNTER, "",
               "Failed exports, by exporter", (ATTR_EXPORTER,)),
    MetricSpec("alerts_firing", "aga.alerts.firing", Kind.GAUGE, "",
               "Alert rules currently firing (1) or not (0)", (ATTR_RULE, ATTR_SEVERITY)),
    MetricSpec("health_status", "aga.health.status", Kind.GAUGE, "",
               "Component health: 2 healthy, 1 degraded, 0 unhealthy", (ATTR_COMPONENT,)),
)  # fmt: skip

BY_KEY: dict[str, MetricSpec] = {m.key: m for m in METRICS}
BY_NAME: dict[str, MetricSpec] = {m.name: m for m in METRICS}

# --- process/runtime metrics (optional, ``process_metrics``) -------------------------------
# OpenTelemetry's process semantic conventions (process.*, status: Development) and the
# CPython runtime conventions (cpython.gc.*), names as pinned at semantic conventions 1.44.0.
# Observable instruments, read at collection time only. Not AGA's metrics: kept out of
# METRICS (no ``aga_`` prefix, not on the dashboards); README lists them in their own table.
ATTR_CPU_MODE = "cpu.mode"  # user | system
ATTR_GC_GENERATION = "cpython.gc.generation"  # 0 | 1 | 2
PROCESS_METRICS: tuple[MetricSpec, ...] = (
    MetricSpec("process_cpu_time", "process.cpu.time", Kind.COUNTER, "s",
               "CPU seconds used by this process, by mode", (ATTR_CPU_MODE,)),
    MetricSpec("process_memory_usage", "process.memory.usage", Kind.UPDOWN, "By",
               "Physical memory (resident set size) of this process"),
    MetricSpec("process_thread_count", "process.thread.count", Kind.UPDOWN, "{thread}",
               "Threads of this process"),
    MetricSpec("gc_collections", "cpython.gc.collections", Kind.COUNTER, "{collection}",
               "Garbage collections run by CPython, by generation", (ATTR_GC_GENERATION,)),
)  # fmt: skip


def metric(key: str) -> MetricSpec:
    """The spec for ``key``; raises KeyError for an unknown key."""
    return BY_KEY[key]


def prom(key: str) -> str:
    """The Prometheus name of the metric ``key`` (for PromQL in dashboards and rules)."""
    return BY_KEY[key].prometheus_name


# --- knowledge attribution: retrieval spans and ``inject`` audit rows -------------------------
# Retrieval spans follow the GenAI retrieval span ``gen_ai.retrieval`` (status: Development)
# of the OpenTelemetry GenAI semantic conventions, which moved out of the main conventions
# (the registry of opentelemetry-semantic-conventions 0.66b2 marks these gen_ai.* names
# "moved") into open-telemetry/semantic-conventions-genai, docs/gen-ai/retrieval.md, as of
# its first release (0.1.0, on semantic conventions 1.45.0): span name
# ``{gen_ai.operation.name}``, kind INTERNAL, status per "Recording Errors" (``error.type``
# on failure), ``gen_ai.data_source.id`` when applicable, ``gen_ai.retrieval.documents``
# Opt-In, as ``[{"id", "score"}]`` recorded as a JSON string (the Python SDK has no
# structured attribute values; the convention allows it).
GENAI_SEMCONV_VERSION = "semantic-conventions-genai 0.1.0"
SPAN_ATTR_GENAI_OPERATION = "gen_ai.operation.name"
SPAN_ATTR_GENAI_DOCUMENTS = "gen_ai.retrieval.documents"
SPAN_ATTR_GENAI_DATA_SOURCE = "gen_ai.data_source.id"
GENAI_OPERATION_RETRIEVAL = "retrieval"
# The general (stable) attribute for a failed operation's class, on every span ending in
# error: https://opentelemetry.io/docs/specs/semconv/general/recording-errors/
SPAN_ATTR_ERROR_TYPE = "error.type"
ERROR_TYPE_OTHER = "_OTHER"  # the convention's fallback value
# The GenAI instrumentations' content opt-in (opentelemetry-python-contrib util-genai):
# "true"/"false", or NO_CONTENT / SPAN_ONLY / EVENT_ONLY / SPAN_AND_EVENT. aga-otel reads it
# for the retrieval documents on spans (config field trace_retrieval_documents).
ENV_GENAI_CAPTURE_CONTENT = "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT"
GENAI_CAPTURE_ON_SPANS = frozenset({"true", "span_only", "span_and_event"})
GENAI_CAPTURE_OFF_SPANS = frozenset({"false", "no_content", "event_only"})
# Documents beyond the configured cap, counted on the span (never silently cut).
SPAN_ATTR_DOCUMENTS_DROPPED = "aga.retrieval.documents_dropped"

# The audit operation recording one injection (one retrieval event with injected facts).
# It is aga-otel's own row, not an aga-core operation: never a metric attribute value.
AUDIT_OP_INJECT = "inject"
# Its details keys (hash-chained with the row; read back by aga_otel.audit.explain).
INJECT_TRACE_ID = "trace_id"  # 32 lowercase hex digits, absent when no span was active
INJECT_SPAN_ID = "span_id"  # 16 lowercase hex digits
INJECT_LAYER = "layer"
INJECT_RESULTS = "results_count"
INJECT_INJECTED = "injected_count"
INJECT_FACTS = "facts"  # [{"id", "score"}] in injection order (no "id" with ids off)
INJECT_FACTS_DROPPED = "facts_dropped"  # facts beyond the cap
INJECT_IDS_RECORDED = "ids_recorded"  # False when knowledge_ids_enabled was off
INJECT_INSTANCE = "instance"  # the writer's service.instance.id (shared stores mix them)
# Audit operations whose details ``id`` names one fact: its provenance.
FACT_OPERATIONS = frozenset(
    {"register", "unregister", "streaming_knowledge_update", "streaming_knowledge_remove"}
)

# --- series Prometheus itself writes (dashboards and rules read them; aga-otel never does) --
PROM_UP = "up"  # 1 when the last scrape of a target succeeded
PROM_ALERTS = "ALERTS"  # one series per pending/firing alert of Prometheus's rules
# The resource as an info series, written by aga-otel's endpoint and the Collector's
# prometheus exporter alike (its ``model`` label: the ``model`` resource attribute).
PROM_TARGET_INFO = "target_info"

# --- log record and span names (never metric attributes: ids and values may appear) ---------
# A record's event_name is the prefix plus the contract event type (``aga.forward`` …).
EVENT_NAME_PREFIX = "aga."
AUDIT_EVENT_NAME = EVENT_NAME_PREFIX + EVENT_AUDIT
UNKNOWN_EVENT_NAME = EVENT_NAME_PREFIX + "event"
EVENT_ALERT = "aga.alert"  # an alert transition (firing or resolved) as a log record
ALERT_ATTR_PREFIX = "aga.alert."  # + rule, state, severity, metric, value, threshold
# Span names: retrieval spans are named by the GenAI convention (GENAI_OPERATION_RETRIEVAL).
AUDIT_SPAN_PREFIX = "aga.audit "  # + the operation's closed-set label
FORWARD_SPAN = "aga.forward"
# Attributes shared by log records and spans, so both read alike for one event.
A_EVENT_TYPE = "aga.event.type"
A_SOURCE = "aga.event.source"
A_LAYER = "aga.layer_idx"
A_APPLIED = "aga.applied"
A_GATE = "aga.gate_mean"
A_ENTROPY = "aga.entropy_mean"
A_LATENCY = "aga.latency_us"
A_RESULTS = "aga.retrieval.results_count"
A_INJECTED = "aga.retrieval.injected_count"
A_BUDGET = "aga.retrieval.budget_remaining"
A_IDS = "aga.retrieval.ids"
A_SCORES = "aga.retrieval.scores"
A_OPERATION = "aga.audit.operation"
A_SUCCESS = "aga.audit.success"
A_ERROR = "aga.audit.error"
A_DETAILS = "aga.audit.details"  # canonical JSON text of the sanitised details
A_MALFORMED = "aga.event.malformed"
# The bound plugin's model_type (what aga_model_info{model} reports), on every log record
# and span while a plugin with a model is bound.
A_MODEL_TYPE = "aga.model.type"

# Trace-context capture: the side attribute through which the bridge hands sinks the
# emitter's SpanContext (aga_otel.tracing.capture sets it on the worker thread; the
# worker's own active span is never used: it is not the emitter's).
SPAN_CONTEXT_ATTR = "otel_span_context"
