"""What the dashboard keeps of one cumulative snapshot: totals, per layer where it matters.

Pure: ``read_totals(MetricsData)`` looks only at its argument. Counters are keyed by their
Prometheus name and summed over every series, exactly what a ``sum()`` over a ``/metrics``
scrape of the same snapshot gives, so the page and the scrape can be compared number by
number. Rates and percentiles are derived later from two such totals (``view.py``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from operator import add

from opentelemetry.sdk.metrics.export import Gauge, Histogram, MetricsData, Sum

from aga_otel import semconv as sc
from aga_otel.alerts.snapshot import HistogramTotals

ALL_LAYERS = "all"  # the layer key when per-layer attributes are off

# Counters shown with their attribute breakdown (a closed set of values each).
BREAKDOWNS = {
    "events_dropped": sc.ATTR_REASON,
    "export_failures": sc.ATTR_EXPORTER,
    "audit_operations": sc.ATTR_OPERATION,
}
# Histograms kept summed over layers, for the distributions.
DISTRIBUTIONS = ("forward_duration", "gate_value", "entropy_value", "retrieval_score")

_BY_NAME = {spec.name: spec for spec in sc.METRICS}
_PROM = {spec.key: spec.prometheus_name for spec in sc.METRICS}


@dataclass(frozen=True)
class Totals:
    """The cumulative totals of one snapshot (names are Prometheus names)."""

    time: float | None = None  # the snapshot's collection time, unix seconds
    resource: dict[str, str] = field(default_factory=dict)
    counters: dict[str, float] = field(default_factory=dict)
    breakdowns: dict[str, dict[str, float]] = field(default_factory=dict)
    gauges: dict[str, float] = field(default_factory=dict)
    labels: dict[str, dict[str, str]] = field(default_factory=dict)  # info gauges' attributes
    forward: dict[str, tuple[float, float]] = field(default_factory=dict)  # layer: applied, all
    histograms: dict[str, HistogramTotals] = field(default_factory=dict)  # semconv key


def read_totals(data: MetricsData | None) -> Totals:
    """The totals of a cumulative snapshot; ``None`` (nothing collected) gives empty totals."""
    out = Totals()
    times: list[int] = []
    for rm in data.resource_metrics if data is not None else ():
        out.resource.update({k: str(v) for k, v in rm.resource.attributes.items()})
        for sm in rm.scope_metrics:
            for metric in sm.metrics:
                spec = _BY_NAME.get(metric.name)
                points = list(getattr(metric.data, "data_points", ()))
                if points:  # one collection stamps all of its points with one time
                    times.append(points[0].time_unix_nano)
                if spec is not None and points:
                    _add(out, spec, metric.data, points)
    return replace(out, time=max(times) / 1e9) if times else out


def _add(out: Totals, spec: sc.MetricSpec, data: object, points: list) -> None:
    prom = _PROM[spec.key]
    if isinstance(data, Sum) and data.is_monotonic:
        out.counters[prom] = float(sum(p.value for p in points))
        attr = BREAKDOWNS.get(spec.key)
        if attr is not None:
            by = out.breakdowns.setdefault(prom, {})
            for p in points:
                label = str(p.attributes.get(attr, ""))
                by[label] = by.get(label, 0.0) + float(p.value)
        if spec.key == "forward":
            for p in points:
                layer = _layer(p.attributes)
                applied, total = out.forward.get(layer, (0.0, 0.0))
                hit = p.attributes.get(sc.ATTR_APPLIED) == "true"
                out.forward[layer] = (applied + p.value * hit, total + p.value)
    elif isinstance(data, Histogram) and spec.key in DISTRIBUTIONS:
        out.histograms[spec.key] = _summed(points)
    elif isinstance(data, (Sum, Gauge)):
        if spec.attributes and spec.key == "build_info":
            out.labels[prom] = {k: str(v) for k, v in points[0].attributes.items()}
        elif not spec.attributes:
            out.gauges[prom] = float(points[0].value)


def _layer(attributes: Mapping) -> str:
    return str(attributes.get(sc.ATTR_LAYER, ALL_LAYERS))


def _summed(points: list) -> HistogramTotals:
    """One histogram from all attribute sets (an instrument has one bucket layout)."""
    bounds = tuple(points[0].explicit_bounds)
    counts, count, total = list(points[0].bucket_counts), 0, 0.0
    for p in points[1:]:
        counts = list(map(add, counts, p.bucket_counts))  # C-speed: this runs every second
    for p in points:
        count, total = count + p.count, total + p.sum
    return HistogramTotals(bounds, tuple(counts), count, total)


def layer_order(layers) -> list[str]:
    """Layers in numeric order (``"10"`` after ``"9"``), anything else last."""
    return sorted(layers, key=lambda s: (not s.isdigit(), int(s) if s.isdigit() else 0, s))
