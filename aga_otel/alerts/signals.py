"""The alert metrics: how each one is derived from the semconv instruments.

One table, ``SIGNALS``, describes every metric an alert rule may watch. The in-process
engine evaluates it on snapshot windows (``evaluate``) and the Prometheus rule generator
renders the same entries as PromQL, so both always mean the same thing.

A metric with no data in the window evaluates to ``None`` (the rule stays quiet), never
to 0: gauges read from the plugin report nothing until a plugin is bound.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import Enum

from aga_otel.alerts.quantile import histogram_quantile
from aga_otel.alerts.snapshot import WindowView
from aga_otel.config import ALERT_METRICS


class Derivation(str, Enum):
    QUANTILE = "quantile"  # histogram quantile over the window
    MEAN = "mean"  # histogram sum / count over the window
    GAUGE = "gauge"  # mean of the gauge's samples over the window
    RATE = "rate"  # counter increase per second over the window
    MISS_RATIO = "miss_ratio"  # 1 - increase(hit) / increase(total)


@dataclass(frozen=True)
class Signal:
    """How one alert metric is computed. ``source``/``hit`` are semconv keys."""

    derivation: Derivation
    source: str
    quantile: float = 0.0
    hit: str = ""
    unit: str = ""
    description: str = ""


SIGNALS: dict[str, Signal] = {
    "latency_p50": Signal(Derivation.QUANTILE, "forward_duration", 0.50, unit="s",
                          description="median AGA forward duration"),
    "latency_p95": Signal(Derivation.QUANTILE, "forward_duration", 0.95, unit="s",
                          description="95th percentile AGA forward duration"),
    "latency_p99": Signal(Derivation.QUANTILE, "forward_duration", 0.99, unit="s",
                          description="99th percentile AGA forward duration"),
    "activation_rate": Signal(Derivation.GAUGE, "activation_rate",
                              description="share of forward steps where AGA applied"),
    "gate_mean": Signal(Derivation.MEAN, "gate_value", description="mean gate value"),
    "entropy_mean": Signal(Derivation.MEAN, "entropy_value",
                           description="mean attention entropy"),
    "knowledge_utilization": Signal(Derivation.GAUGE, "knowledge_utilization",
                                    description="knowledge store utilization (0..1)"),
    "knowledge_count": Signal(Derivation.GAUGE, "knowledge_count",
                              description="knowledge items in the store"),
    "retrieval_failure_rate": Signal(Derivation.MISS_RATIO, "retrieval_results",
                                     hit="retrieval_injected",
                                     description="share of retrieved results not injected"),
    "slot_change_rate": Signal(Derivation.GAUGE, "slot_change_rate",
                               description="slot change rate from slot governance"),
    "events_dropped_rate": Signal(Derivation.RATE, "events_dropped", unit="1/s",
                                  description="events dropped per second, all reasons"),
}  # fmt: skip

assert set(SIGNALS) == set(ALERT_METRICS), "every alert metric needs exactly one signal"


def source_keys() -> frozenset[str]:
    """The semconv keys the engine has to keep in its snapshots."""
    keys = {s.source for s in SIGNALS.values()} | {s.hit for s in SIGNALS.values() if s.hit}
    return frozenset(keys)


def evaluate(metric: str, view: WindowView) -> float | None:
    """The value of alert ``metric`` over ``view``; ``None`` when there is no data."""
    sig = SIGNALS[metric]
    d = sig.derivation
    if d is Derivation.QUANTILE:
        h = view.histogram(sig.source)
        return None if h is None else histogram_quantile(sig.quantile, h.bounds, h.counts)
    if d is Derivation.MEAN:
        h = view.histogram(sig.source)
        return None if h is None or h.count <= 0 else h.sum / h.count
    if d is Derivation.GAUGE:
        samples = [v for v in view.gauge_samples(sig.source) if math.isfinite(v)]
        return sum(samples) / len(samples) if samples else None
    if d is Derivation.RATE:
        inc = view.counter(sig.source)
        return None if inc is None or view.seconds <= 0 else inc / view.seconds
    # MISS_RATIO: no retrieval in the window means no failure to report.
    total, hit = view.counter(sig.source), view.counter(sig.hit)
    if not total:
        return None
    return min(1.0, max(0.0, 1.0 - (hit or 0.0) / total))
