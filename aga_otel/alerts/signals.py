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
    EXTREME = "extreme"  # histogram max (operator > >=) or min (< <=) of the observations
    GAUGE = "gauge"  # mean of the gauge's samples over the window
    LAST = "last"  # the gauge's newest sample
    RATE = "rate"  # counter increase per second over the window
    MISS_RATIO = "miss_ratio"  # 1 - increase(hit) / increase(total)


@dataclass(frozen=True)
class Signal:
    """How one alert metric is computed. ``source``/``hit`` are semconv keys.

    ``unit`` is the unit a rule's threshold is read in and ``scale`` converts the recorded
    value to it (the forward duration is recorded in seconds; 1.0's latency in µs).
    ``latest`` is how aga-observability 1.0 read the metric when it was a latest value:
    rules with ``semantics="1.0"`` apply it to the last evaluation interval only.
    """

    derivation: Derivation
    source: str
    quantile: float = 0.0
    hit: str = ""
    unit: str = ""
    scale: float = 1.0
    latest: Derivation | None = None
    description: str = ""


def _latency(q: float, unit: str, scale: float, which: str) -> Signal:
    return Signal(Derivation.QUANTILE, "forward_duration", q, unit=unit, scale=scale,
                  description=f"{which} AGA forward duration ({unit})")  # fmt: skip


SIGNALS: dict[str, Signal] = {
    "latency_p50": _latency(0.50, "us", 1e6, "median"),
    "latency_p95": _latency(0.95, "us", 1e6, "95th percentile"),
    "latency_p99": _latency(0.99, "us", 1e6, "99th percentile"),
    "latency_p50_seconds": _latency(0.50, "s", 1.0, "median"),
    "latency_p95_seconds": _latency(0.95, "s", 1.0, "95th percentile"),
    "latency_p99_seconds": _latency(0.99, "s", 1.0, "99th percentile"),
    "activation_rate": Signal(Derivation.GAUGE, "activation_rate",
                              description="share of forward steps where AGA applied"),
    "gate_mean": Signal(Derivation.MEAN, "gate_value", latest=Derivation.EXTREME,
                        description="mean gate value"),
    "entropy_mean": Signal(Derivation.MEAN, "entropy_value", latest=Derivation.EXTREME,
                           description="mean attention entropy"),
    "knowledge_utilization": Signal(Derivation.GAUGE, "knowledge_utilization",
                                    latest=Derivation.LAST,
                                    description="knowledge store utilization (0..1)"),
    "knowledge_count": Signal(Derivation.GAUGE, "knowledge_count", latest=Derivation.LAST,
                              description="knowledge items in the store"),
    "retrieval_failure_rate": Signal(Derivation.MISS_RATIO, "retrieval_results",
                                     hit="retrieval_injected", latest=Derivation.MISS_RATIO,
                                     description="share of retrieved results not injected"),
    "slot_change_rate": Signal(Derivation.GAUGE, "slot_change_rate", latest=Derivation.LAST,
                               description="slot change rate from slot governance"),
    "events_dropped_rate": Signal(Derivation.RATE, "events_dropped", unit="1/s",
                                  description="events dropped per second, all reasons"),
}  # fmt: skip

assert set(SIGNALS) == set(ALERT_METRICS), "every alert metric needs exactly one signal"


def source_keys() -> frozenset[str]:
    """The semconv keys the engine has to keep in its snapshots."""
    keys = {s.source for s in SIGNALS.values()} | {s.hit for s in SIGNALS.values() if s.hit}
    return frozenset(keys)


def evaluate(
    metric: str, view: WindowView, operator: str = ">", derivation: Derivation | None = None
) -> float | None:
    """The value of alert ``metric`` over ``view`` in the metric's unit; ``None`` when there
    is no data. ``derivation`` overrides the signal's (``Signal.latest`` for 1.0 rules);
    ``operator`` picks the extreme of an ``EXTREME`` derivation."""
    sig = SIGNALS[metric]
    d = derivation or sig.derivation
    if d is Derivation.QUANTILE:
        h = view.histogram(sig.source)
        q = None if h is None else histogram_quantile(sig.quantile, h.bounds, h.counts)
        return None if q is None else q * sig.scale
    if d in (Derivation.MEAN, Derivation.EXTREME):
        h = view.histogram(sig.source)
        if h is None or h.count <= 0:
            return None
        if d is Derivation.MEAN:
            return h.sum / h.count
        return h.min if operator in ("<", "<=") else h.max
    if d in (Derivation.GAUGE, Derivation.LAST):
        samples = [v for v in view.gauge_samples(sig.source) if math.isfinite(v)]
        if not samples:
            return None
        return samples[-1] if d is Derivation.LAST else sum(samples) / len(samples)
    if d is Derivation.RATE:
        inc = view.counter(sig.source)
        return None if inc is None or view.seconds <= 0 else inc / view.seconds
    # MISS_RATIO: no retrieval in the window means no failure to report.
    total, hit = view.counter(sig.source), view.counter(sig.hit)
    if not total:
        return None
    return min(1.0, max(0.0, 1.0 - (hit or 0.0) / total))
