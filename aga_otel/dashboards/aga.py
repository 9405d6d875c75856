"""The AGA dashboard: which panels exist and what PromQL each runs.

Every metric name comes from :mod:`aga_otel.semconv` through :func:`prom`; nothing here
spells a series name. Every selector carries the four filter variables, so one dashboard
serves both a direct scrape of aga-otel (``job``/``instance`` set by Prometheus) and the
Collector path (``service_name``/``service_instance_id`` from resource attributes).
"""

from __future__ import annotations

from typing import Any

from aga_otel.dashboards.grafana import Panel, Query, Row, dashboard, datasource_variable
from aga_otel.dashboards.grafana import label_variable as _label_variable
from aga_otel.semconv import prom

UID = "aga-otel-overview"
TITLE = "AGA (aga-otel)"
RATE = "$__rate_interval"  # Grafana picks ≥ 4 scrape intervals, so rate() always has data

# (variable name, label shown, Prometheus label): the two target labels first, then the
# resource attributes the Collector's prometheus exporter turns into labels.
FILTERS = (
    ("job", "Job", "job"),
    ("instance", "Instance", "instance"),
    ("service_name", "Service (OTel)", "service_name"),
    ("service_instance_id", "Service instance (OTel)", "service_instance_id"),
)
FILTER = ", ".join(f'{label}=~"${var}"' for var, _, label in FILTERS)
# A counter every running aga-otel exposes from the first scrape, bound plugin or not.
VARIABLE_SOURCE = prom("events_received")


def sel(key: str, suffix: str = "", extra: str = "") -> str:
    """The filtered selector for metric ``key`` (``suffix`` e.g. ``_bucket``)."""
    matchers = f"{FILTER}, {extra}" if extra else FILTER
    return f"{prom(key)}{suffix}{{{matchers}}}"


def rate(key: str, by: str = "", suffix: str = "", fn: str = "rate", window: str = RATE) -> str:
    grouping = f" by ({by})" if by else ""
    return f"sum{grouping} ({fn}({sel(key, suffix)}[{window}]))"


# Histograms whose measurements carry the emitter's span, hence exemplars on the OTLP
# path (docs/tracing.md); their latency panels ask Grafana for exemplars.
EXEMPLAR_HISTOGRAMS = frozenset({"forward_duration"})


def latency(q: float, key: str, by: str = "", legend: str = "__auto") -> Query:
    """A quantile query that also shows exemplars when ``key`` has them."""
    return Query(quantile(q, key, by), legend, exemplar=key in EXEMPLAR_HISTOGRAMS)


def quantile(q: float, key: str, by: str = "") -> str:
    labels = f"le, {by}" if by else "le"
    return f"histogram_quantile({q}, {rate(key, labels, '_bucket')})"


def mean(key: str, by: str) -> str:
    """Mean of a histogram's observations per ``by`` over the rate window."""
    return f"{rate(key, by, '_sum')} / {rate(key, by, '_count')}"


def heatmap(title: str, key: str, unit: str, description: str) -> Panel:
    return Panel(title, "heatmap", (Query(rate(key, "le", "_bucket"), "{{le}}"),), unit,
                 description)  # fmt: skip


INSTANCE_LEGEND = "{{job}} {{instance}}"


def _overview() -> Row:
    return Row("Overview", (
        Panel("Activation rate", "stat", (Query(f"avg({sel('activation_rate')})"),),
              "percentunit", "Share of forward steps where AGA applied (last 60 s), "
              "averaged over instances", width=6, height=5, min=0, max=1),
        Panel("Knowledge items", "stat", (Query(f"sum({sel('knowledge_count')})"),),
              "short", "Knowledge items in the stores of all selected instances",
              width=6, height=5),
        Panel("Knowledge utilisation", "gauge",
              (Query(f"max({sel('knowledge_utilization')})"),), "percentunit",
              "Fullest store among the selected instances", width=6, height=5, min=0, max=1),
        Panel("Pinned knowledge", "stat", (Query(f"sum({sel('knowledge_pinned_count')})"),),
              "short", "Pinned (never evicted) knowledge items", width=6, height=5),
        Panel("Activation rate by instance", "timeseries",
              (Query(f"max by (job, instance) ({sel('activation_rate')})", INSTANCE_LEGEND),),
              "percentunit", "One line per aga-otel instance", width=24, min=0, max=1),
    ))  # fmt: skip


def _forward() -> Row:
    return Row("Forward performance", (
        Panel("Forward duration p50 / p95 / p99", "timeseries", tuple(
            latency(q, "forward_duration", legend=f"p{int(q * 100)}")
            for q in (0.5, 0.95, 0.99)), "s",
            "AGA's own time per hooked layer and step; with tracing, exemplar points "
            "open the trace behind a measurement"),
        Panel("Forward duration p95 by layer", "timeseries",
              (latency(0.95, "forward_duration", "layer", "layer {{layer}}"),), "s"),
        Panel("Forward rate by layer", "timeseries",
              (Query(rate("forward", "layer"), "layer {{layer}}"),), "ops",
              "Forward events per second, applied or bypassed"),
        Panel("Forward rate by instance, applied vs bypassed", "timeseries",
              (Query(rate("forward", "job, instance, applied"),
                     INSTANCE_LEGEND + " applied={{applied}}"),), "ops"),
    ))  # fmt: skip


def _gate_entropy() -> Row:
    return Row("Gate and entropy", (
        heatmap("Gate value distribution", "gate_value", "short",
                "Mean gate value per forward step (0..1), by bucket"),
        heatmap("Entropy distribution", "entropy_value", "short",
                "Mean attention entropy per forward step, by bucket"),
        Panel("Mean gate value by layer", "timeseries",
              (Query(mean("gate_value", "layer"), "layer {{layer}}"),), "short", min=0, max=1),
        Panel("Mean entropy by layer", "timeseries",
              (Query(mean("entropy_value", "layer"), "layer {{layer}}"),), "short", min=0),
    ))  # fmt: skip


def _retrieval() -> Row:
    return Row("Retrieval", (
        Panel("Retrieval rate by layer", "timeseries",
              (Query(rate("retrieval", "layer"), "layer {{layer}}"),), "ops",
              "Retriever calls per second"),
        Panel("Results vs injected", "timeseries", (
            Query(rate("retrieval_results"), "returned"),
            Query(rate("retrieval_injected"), "injected")), "ops",
            "Knowledge items returned by the retriever and injected into attention"),
        heatmap("Retrieval score distribution", "retrieval_score", "short",
                "Relevance score (0..1) of retrieved knowledge"),
        Panel("Slot change rate", "timeseries",
              (Query(f"max by (job, instance) ({sel('slot_change_rate')})", INSTANCE_LEGEND),),
              "short", "Knowledge slot change rate reported by slot governance", min=0),
    ))  # fmt: skip


def _knowledge() -> Row:
    """Which knowledge reaches the model, within the cardinality rules: per layer and per
    operation only; fact ids live in spans and the audit trail (docs/knowledge-attribution.md)."""
    fact_ops = sel(
        "audit_operations",
        extra='operation=~"register|unregister|'
        'streaming_knowledge_update|streaming_knowledge_remove"',
    )
    return Row("Knowledge", (
        Panel("Facts injected by layer", "timeseries",
              (Query(rate("retrieval_injected", "layer"), "layer {{layer}}"),), "ops",
              "Facts written into the KV store per second; which ones, per request: "
              "aga-otel audit explain --trace", width=8, min=0),
        Panel("Injected share of retrieved results", "timeseries",
              (Query(f"{rate('retrieval_injected', 'job, instance')} / "
                     f"{rate('retrieval_results', 'job, instance')}", INSTANCE_LEGEND),),
              "percentunit", "Retrieved results that were injected, per instance",
              width=8, min=0, max=1),
        Panel("Facts injected in the time range", "bargauge",
              (Query(rate("retrieval_injected", "layer", fn="increase", window="$__range"),
                     "layer {{layer}}"),), "short", width=8, min=0),
        Panel("Knowledge slot changes", "timeseries", (
            Query(f"sum by (operation) (rate({fact_ops}[{RATE}]))", "{{operation}}"),
            Query(f"max({sel('slot_change_rate')})", "slot change rate")), "short",
            "Registrations and removals per second, and the slot governance change rate",
            width=24, min=0),
    ))  # fmt: skip


def _audit() -> Row:
    legend = "{{operation}} success={{success}}"
    return Row("Audit", (
        Panel("Operations by type and outcome", "timeseries",
              (Query(rate("audit_operations", "operation, success"), legend),), "ops"),
        Panel("Operations in the time range", "bargauge",
              (Query(rate("audit_operations", "operation, success", fn="increase",
                          window="$__range"), legend),), "short",
              "Count per operation and outcome over the dashboard's time range", min=0),
    ))  # fmt: skip


def _pipeline() -> Row:
    return Row("Telemetry pipeline", (
        Panel("Events received and dropped", "timeseries", (
            Query(rate("events_received"), "received"),
            Query(rate("events_dropped", "reason"), "dropped {{reason}}")), "ops",
            "Events handed over by the EventBus, and those not turned into telemetry",
            width=8),
        Panel("Queue depth", "timeseries",
              (Query(f"max by (job, instance) ({sel('queue_depth')})", INSTANCE_LEGEND),),
              "short", "Events waiting in the hand-over queue", width=8, min=0),
        Panel("Export failures", "timeseries",
              (Query(rate("export_failures", "exporter", fn="increase"), "{{exporter}}"),),
              "short", "Failed exports per rate window, by exporter", width=8, min=0),
        Panel("Alerts firing", "stat", (Query(f"sum({sel('alerts_firing')})"),), "short",
              "Alert rules of aga-otel's in-process evaluator currently firing",
              width=6, min=0),
        Panel("Alert rules", "timeseries",
              (Query(f"max by (rule, severity) ({sel('alerts_firing')})",
                     "{{rule}} ({{severity}})"),), "short",
              "1 while a rule fires, 0 otherwise", width=9, min=0, max=1),
        Panel("Component health", "timeseries",
              (Query(f"min by (component) ({sel('health_status')})", "{{component}}"),),
              "short", "2 healthy, 1 degraded, 0 unhealthy (worst instance)",
              width=9, min=0, max=2),
    ))  # fmt: skip


ROWS = (_overview, _forward, _gate_entropy, _retrieval, _audit, _pipeline, _knowledge)


def variables() -> list[dict[str, Any]]:
    """Datasource first, then each filter restricted by the ones before it."""
    out = [datasource_variable()]
    before: list[str] = []
    for var, label, prom_label in FILTERS:
        out.append(_label_variable(var, label, VARIABLE_SOURCE, prom_label, ", ".join(before)))
        before.append(f'{prom_label}=~"${var}"')
    return out


def build() -> dict[str, Any]:
    """The dashboard as a dict (deterministic: same input, same JSON)."""
    rows = tuple(make() for make in ROWS)
    return dashboard(UID, TITLE, rows, variables(), ["aga", "aga-otel", "opentelemetry"])
