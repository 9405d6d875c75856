"""The AGA dashboard: which panels exist and what PromQL each runs.

Every metric name comes from :mod:`aga_otel.semconv` (through :class:`Names`, which applies
the metric prefix); nothing here spells a series name. Every selector carries the ``job``
and ``instance`` filters, which exist in both label layouts: a direct scrape of aga-otel
(Prometheus's target labels) and the Collector path (its prometheus exporter sets them from
``service.name``/``service.instance.id``). Alert thresholds come from the default rules
(:mod:`aga_otel.alerts.rules`), the table the generated Prometheus rules read too.

The ``model`` variable follows Prometheus's join-by-labels convention: an instance's model
is the ``model`` label of its ``aga_model_info`` (the bound plugin's ``model_type``) or of
its ``target_info`` (the ``model`` resource attribute), in both layouts, and every AGA
series is kept ``and on(job, instance)`` one of those matches. Its "All" (``.*``) also
matches a ``target_info`` without a ``model``, so instances without a model stay in.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

from aga_otel import semconv
from aga_otel.alerts.rules import DEFAULT_RULES
from aga_otel.alerts.signals import SIGNALS
from aga_otel.config import AlertRuleConfig
from aga_otel.dashboards.grafana import (
    Panel,
    Query,
    Row,
    Step,
    ValueText,
    annotation,
    dashboard,
    datasource_variable,
    label_variable,
    link,
)
from aga_otel.exporters.prometheus import DEFAULT_PREFIX, prefixed

UID = "aga-otel-overview"
TITLE = "AGA (aga-otel)"
RATE = "$__rate_interval"  # Grafana picks ≥ 4 scrape intervals, so rate() always has data

# (variable name, label shown, Prometheus label); each restricts the ones after it.
FILTERS = (("job", "Job", "job"), ("instance", "Instance", "instance"))
FILTER = ", ".join(f'{label}=~"${var}"' for var, _, label in FILTERS)
MODEL_VAR = "model"
MODEL_MATCHER = f'{semconv.ATTR_MODEL}=~"${MODEL_VAR}"'
INSTANCE_LEGEND = "{{job}} {{instance}}"
# Histograms whose measurements carry the emitter's span, hence exemplars on the OTLP
# path (docs/tracing.md); their latency panels ask Grafana for exemplars.
EXEMPLAR_HISTOGRAMS = frozenset({"forward_duration"})
# Datasource uids of the bundled stack (collector/grafana/provisioning/datasources).
ALERTMANAGER_UID = "aga-alertmanager"
JAEGER_UID = "aga-jaeger"
HEALTH = (ValueText(0, "unhealthy", "red"), ValueText(1, "degraded", "orange"),
          ValueText(2, "healthy", "green"))  # fmt: skip
UP = (ValueText(0, "down", "red"), ValueText(1, "up", "green"))


def slo_steps(metric: str, rules: tuple[AlertRuleConfig, ...] = DEFAULT_RULES) -> tuple[Step, ...]:
    """Threshold steps for alert metric ``metric``: green below the rules' thresholds, red
    from the highest, orange from any lower one (only upper-bound threshold rules count).

    Rules on the same signal in another unit count too, converted to ``metric``'s unit
    (a 1.0 rule on ``latency_p99`` in µs draws its line on a seconds panel).
    """
    want = SIGNALS[metric]

    def same_signal(other: str) -> bool:
        sig = SIGNALS.get(other)
        return sig is not None and (sig.source, sig.quantile, sig.derivation) == (
            want.source, want.quantile, want.derivation,
        )  # fmt: skip

    bounds = sorted(
        {round(r.threshold / SIGNALS[r.metric].scale * want.scale, 12) for r in rules
         if same_signal(r.metric) and r.kind == "threshold" and r.operator in (">", ">=")}
    )  # fmt: skip
    colors = ["orange"] * (len(bounds) - 1) + ["red"]
    return (Step(None, "green"), *(Step(v, c) for v, c in zip(bounds, colors, strict=False)))


class Names:
    """PromQL building blocks over the semconv names, with AGA's metrics under ``prefix``."""

    def __init__(self, prefix: str = DEFAULT_PREFIX) -> None:
        self.prefix = prefix

    def name(self, key: str) -> str:
        return prefixed(semconv.prom(key), self.prefix)

    def sel(self, key: str, suffix: str = "", extra: str = "") -> str:
        """The filtered selector for metric ``key`` (``suffix`` e.g. ``_bucket``)."""
        matchers = f"{FILTER}, {extra}" if extra else FILTER
        return f"{self.name(key)}{suffix}{{{matchers}}}"

    @property
    def of_model(self) -> str:
        """Keeps the series of instances whose model matches ``$model`` (module docstring)."""
        models = f"{FILTER}, {MODEL_MATCHER}"
        return (f"and on(job, instance) ({self.name('model_info')}{{{models}}} "
                f"or {semconv.PROM_TARGET_INFO}{{{models}}})")  # fmt: skip

    def model_sel(self, key: str) -> str:
        """The selector of metric ``key`` restricted to the selected models."""
        return f"{self.sel(key)} {self.of_model}"

    def rate(self, key: str, by: str = "", suffix: str = "", fn: str = "rate",
             window: str = RATE, extra: str = "") -> str:  # fmt: skip
        grouping = f" by ({by})" if by else ""
        selector = self.sel(key, suffix, extra)
        return f"sum{grouping} ({fn}({selector}[{window}]) {self.of_model})"

    def quantile(self, q: float, key: str, by: str = "") -> str:
        labels = f"le, {by}" if by else "le"
        return f"histogram_quantile({q}, {self.rate(key, labels, '_bucket')})"

    def latency(self, q: float, key: str, by: str = "", legend: str = "__auto") -> Query:
        """A quantile query that also shows exemplars when ``key`` has them."""
        return Query(self.quantile(q, key, by), legend, exemplar=key in EXEMPLAR_HISTOGRAMS)

    def mean(self, key: str, by: str) -> str:
        """Mean of a histogram's observations per ``by`` over the rate window."""
        return f"{self.rate(key, by, '_sum')} / {self.rate(key, by, '_count')}"

    def per_instance(self, key: str) -> Query:
        return Query(f"max by (job, instance) ({self.model_sel(key)})", INSTANCE_LEGEND)

    def heatmap(self, title: str, key: str, unit: str, description: str) -> Panel:
        return Panel(title, "heatmap", (Query(self.rate(key, "le", "_bucket"), "{{le}}"),),
                     unit, description)  # fmt: skip


def _overview(n: Names) -> Row:
    return Row("Overview", (
        Panel("Activation rate", "stat", (Query(f"avg({n.model_sel('activation_rate')})"),),
              "percentunit", "Share of forward steps where AGA applied (last 60 s), "
              "averaged over instances", width=6, height=5, min=0, max=1),
        Panel("Knowledge items", "stat", (Query(f"sum({n.model_sel('knowledge_count')})"),),
              "short", "Knowledge items in the stores of all selected instances",
              width=6, height=5),
        Panel("Knowledge utilisation", "gauge",
              (Query(f"max({n.model_sel('knowledge_utilization')})"),), "percentunit",
              "Fullest store among the selected instances; red from the high_utilization "
              "alert threshold", width=6, height=5, min=0, max=1,
              thresholds=slo_steps("knowledge_utilization")),
        Panel("Pinned knowledge", "stat", (Query(f"sum({n.model_sel('knowledge_pinned_count')})"),),
              "short", "Pinned (never evicted) knowledge items", width=6, height=5),
        Panel("Activation rate by instance", "timeseries", (n.per_instance("activation_rate"),),
              "percentunit", "One line per aga-otel instance", width=24, min=0, max=1),
    ))  # fmt: skip


def _forward(n: Names) -> Row:
    return Row("Forward performance", (
        Panel("Forward duration p50 / p95 / p99", "timeseries", tuple(
            n.latency(q, "forward_duration", legend=f"p{int(q * 100)}")
            for q in (0.5, 0.95, 0.99)), "s",
            "AGA's own time per hooked layer and step; the lines mark the p99 alert "
            "thresholds (warning, critical); with tracing, exemplar points open the trace "
            "behind a measurement", thresholds=slo_steps("latency_p99_seconds")),
        Panel("Forward duration p95 by layer", "timeseries",
              (n.latency(0.95, "forward_duration", "layer", "layer {{layer}}"),), "s"),
        Panel("Forward rate by layer", "timeseries",
              (Query(n.rate("forward", "layer"), "layer {{layer}}"),), "ops",
              "Forward events per second, applied or bypassed"),
        Panel("Forward rate by instance, applied vs bypassed", "timeseries",
              (Query(n.rate("forward", "job, instance, applied"),
                     INSTANCE_LEGEND + " applied={{applied}}"),), "ops"),
    ))  # fmt: skip


def _gate_entropy(n: Names) -> Row:
    return Row("Gate and entropy", (
        n.heatmap("Gate value distribution", "gate_value", "short",
                  "Mean gate value per forward step (0..1), by bucket"),
        n.heatmap("Entropy distribution", "entropy_value", "short",
                  "Mean attention entropy per forward step, by bucket"),
        Panel("Mean gate value by layer", "timeseries",
              (Query(n.mean("gate_value", "layer"), "layer {{layer}}"),), "short", min=0, max=1),
        Panel("Mean entropy by layer", "timeseries",
              (Query(n.mean("entropy_value", "layer"), "layer {{layer}}"),), "short", min=0),
    ))  # fmt: skip


def _retrieval(n: Names) -> Row:
    return Row("Retrieval", (
        Panel("Retrieval rate by layer", "timeseries",
              (Query(n.rate("retrieval", "layer"), "layer {{layer}}"),), "ops",
              "Retriever calls per second"),
        Panel("Results vs injected", "timeseries", (
            Query(n.rate("retrieval_results"), "returned"),
            Query(n.rate("retrieval_injected"), "injected")), "ops",
            "Knowledge items returned by the retriever and injected into attention"),
        n.heatmap("Retrieval score distribution", "retrieval_score", "short",
                  "Relevance score (0..1) of retrieved knowledge"),
        Panel("Slot change rate", "timeseries", (n.per_instance("slot_change_rate"),), "short",
              "Knowledge slot change rate reported by slot governance; the line marks the "
              "slot_thrashing alert threshold", min=0, thresholds=slo_steps("slot_change_rate")),
    ))  # fmt: skip


def _knowledge(n: Names) -> Row:
    """Which knowledge reaches the model, within the cardinality rules: per layer and per
    operation only; fact ids live in spans and the audit trail (docs/knowledge-attribution.md)."""
    fact_ops = (
        'operation=~"register|unregister|streaming_knowledge_update|streaming_knowledge_remove"'
    )
    return Row("Knowledge", (
        Panel("Facts injected by layer", "timeseries",
              (Query(n.rate("retrieval_injected", "layer"), "layer {{layer}}"),), "ops",
              "Facts written into the KV store per second; which ones, per request: "
              "aga-otel audit explain --trace", width=8, min=0),
        Panel("Injected share of retrieved results", "timeseries",
              (Query(f"{n.rate('retrieval_injected', 'job, instance')} / "
                     f"{n.rate('retrieval_results', 'job, instance')}", INSTANCE_LEGEND),),
              "percentunit", "Retrieved results that were injected, per instance",
              width=8, min=0, max=1),
        Panel("Facts injected in the time range", "bargauge",
              (Query(n.rate("retrieval_injected", "layer", fn="increase", window="$__range"),
                     "layer {{layer}}"),), "short", width=8, min=0),
        Panel("Knowledge slot changes", "timeseries", (
            Query(n.rate("audit_operations", "operation", extra=fact_ops), "{{operation}}"),
            Query(f"max({n.model_sel('slot_change_rate')})", "slot change rate")), "short",
            "Registrations and removals per second, and the slot governance change rate",
            width=24, min=0),
    ))  # fmt: skip


def _audit(n: Names) -> Row:
    legend = "{{operation}} success={{success}}"
    return Row("Audit", (
        Panel("Operations by type and outcome", "timeseries",
              (Query(n.rate("audit_operations", "operation, success"), legend),), "ops"),
        Panel("Operations in the time range", "bargauge",
              (Query(n.rate("audit_operations", "operation, success", fn="increase",
                            window="$__range"), legend),), "short",
              "Count per operation and outcome over the dashboard's time range", min=0),
    ))  # fmt: skip


def _pipeline(n: Names) -> Row:
    up = f"{semconv.PROM_UP}{{{FILTER}}}"
    return Row("Telemetry pipeline", (
        Panel("Scrape targets", "state-timeline",
              (Query(f"max by (job, instance) ({up})", INSTANCE_LEGEND),), "short",
              "Prometheus's up: each scraped target (an aga-otel endpoint, or the Collector "
              "in front of the replicas)", width=12, mappings=UP,
              thresholds=(Step(None, "red"), Step(1, "green"))),
        Panel("Instances reporting", "stat",
              (Query(f"count by (job) ({n.model_sel('events_received')})", "{{job}}"),), "short",
              "aga-otel instances with current series, per job (direct or through the "
              "Collector); one that stops reporting raises AgaOtelInstanceAbsent",
              width=12, min=0),
        Panel("Events received and dropped", "timeseries", (
            Query(n.rate("events_received"), "received"),
            Query(n.rate("events_dropped", "reason"), "dropped {{reason}}")), "ops",
            "Events handed over by the EventBus, and those not turned into telemetry",
            width=8),
        Panel("Queue depth", "timeseries", (n.per_instance("queue_depth"),),
              "short", "Events waiting in the hand-over queue", width=8, min=0),
        Panel("Export failures", "timeseries",
              (Query(n.rate("export_failures", "exporter", fn="increase"), "{{exporter}}"),),
              "short", "Failed exports per rate window, by exporter", width=8, min=0),
        Panel("Alerts firing", "stat", (Query(f"sum({n.model_sel('alerts_firing')})"),), "short",
              "Alert rules of aga-otel's in-process evaluator currently firing",
              width=6, min=0, thresholds=(Step(None, "green"), Step(1, "red"))),
        Panel("Alert rules", "state-timeline",
              (Query(f"max by (rule, severity) ({n.model_sel('alerts_firing')})",
                     "{{rule}} ({{severity}})"),), "short",
              "Each in-process rule over time: firing or ok", width=9,
              mappings=(ValueText(0, "ok", "green"), ValueText(1, "firing", "red"))),
        Panel("Component health", "state-timeline",
              (Query(f"min by (component) ({n.model_sel('health_status')})", "{{component}}"),),
              "short", "Each component's health on the worst selected instance",
              width=9, mappings=HEALTH),
    ))  # fmt: skip


ROWS = (_overview, _forward, _gate_entropy, _retrieval, _audit, _pipeline, _knowledge)


def variables(n: Names) -> list[dict[str, Any]]:
    """Datasource first, then each filter restricted by the ones before it, over a counter
    every running aga-otel exposes from its first scrape, bound plugin or not; last the
    models of the selected instances, from both series that name one."""
    source = n.name("events_received")
    out = [datasource_variable()]
    before: list[str] = []
    for var, label, prom_label in FILTERS:
        out.append(label_variable(var, label, source, prom_label, ", ".join(before)))
        before.append(f'{prom_label}=~"${var}"')
    names = f'__name__=~"{n.name("model_info")}|{semconv.PROM_TARGET_INFO}"'
    out.append(label_variable(MODEL_VAR, "Model", "", semconv.ATTR_MODEL, f"{names}, {FILTER}"))
    return out


def annotations(n: Names) -> list[dict[str, Any]]:
    """Alert markers on every panel: Prometheus's alerts and the in-process engine's."""
    return [
        annotation("Prometheus alerts",
                   f'{semconv.PROM_ALERTS}{{alertstate="firing", {FILTER}}}', "red",
                   "{{alertname}}", "{{severity}} on {{job}}/{{instance}}"),
        annotation("aga-otel alerts",
                   f"max by (job, instance, rule, severity) ({n.model_sel('alerts_firing')}) == 1",
                   "orange", "{{rule}}", "{{severity}} on {{job}}/{{instance}}"),
    ]  # fmt: skip


def _explore(uid: str, kind: str) -> str:
    panes = {"a": {"datasource": uid, "queries": [
        {"refId": "A", "datasource": {"type": kind, "uid": uid}}],
        "range": {"from": "now-1h", "to": "now"}}}  # fmt: skip
    return "/explore?schemaVersion=1&panes=" + quote(json.dumps(panes, separators=(",", ":")))


LINKS = [
    link("Alertmanager", f"/alerting/groups?alertmanager={ALERTMANAGER_UID}",
         "Alert groups, silences and inhibitions (Alertmanager datasource)", "bolt"),
    link("Traces", _explore(JAEGER_UID, "jaeger"),
         "Search the traces of the instances (Jaeger datasource)", "info"),
]  # fmt: skip


def build(prefix: str = DEFAULT_PREFIX) -> dict[str, Any]:
    """The dashboard as a dict (deterministic: same input, same JSON)."""
    n = Names(prefix)
    rows = tuple(make(n) for make in ROWS)
    return dashboard(UID, TITLE, rows, variables(n), ["aga", "aga-otel", "opentelemetry"],
                     annotations(n), LINKS)  # fmt: skip
