"""The dashboard's view model: pure functions from totals and component state to JSON.

Every function here takes plain values and returns JSON-ready dicts and lists; none reads a
clock, a socket or a component. Rates, shares and percentiles come from two cumulative
totals (``new`` minus ``old``, divided by the time between their snapshots), as PromQL's
``rate()`` and ``histogram_quantile()`` would compute them from two scrapes.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from typing import Any

from aga_otel import semconv as sc
from aga_otel.alerts.model import Alert, AlertState
from aga_otel.alerts.quantile import histogram_quantile
from aga_otel.alerts.snapshot import HistogramTotals
from aga_otel.live.totals import Totals, layer_order

SCHEMA = 1
RESOLVED_KEEP_S = 900.0  # "recently resolved": the last 15 minutes
AUDIT_DETAIL_CHARS = 240
QUANTILES = {"p50": 0.5, "p95": 0.95, "p99": 0.99}
_RATES = {
    "forward_per_s": sc.prom("forward"),
    "retrieval_per_s": sc.prom("retrieval"),
    "results_per_s": sc.prom("retrieval_results"),
    "injected_per_s": sc.prom("retrieval_injected"),
    "events_per_s": sc.prom("events_received"),
    "dropped_per_s": sc.prom("events_dropped"),
}
_DISTRIBUTIONS = {"latency": "forward_duration", "gate": "gate_value",
                  "entropy": "entropy_value", "score": "retrieval_score"}  # fmt: skip


def _delta(new: float, old: float | None) -> float:
    """A counter's increase; a decrease means it restarted, so all of ``new`` is new."""
    return new if old is None or old > new else new - old


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000.0, 4)


def _share(part: float, whole: float) -> float | None:
    return part / whole if whole > 0 else None


def _percentiles_ms(hist: HistogramTotals | None) -> dict[str, float | None]:
    if hist is None:
        return dict.fromkeys(QUANTILES)
    return {k: _ms(histogram_quantile(q, hist.bounds, hist.counts)) for k, q in QUANTILES.items()}


def window_view(new: Totals, old: Totals | None) -> dict[str, Any]:
    """Rates (per second), activation shares and latency percentiles between two totals.

    Without ``old`` (the first snapshot a dashboard sees) there is no window: rates are
    ``None`` while shares and distributions cover everything since start.
    """
    base = old if old is not None else Totals()
    seconds = None
    if old is not None and new.time is not None and old.time is not None:
        seconds = new.time - old.time if new.time > old.time else None
    out: dict[str, Any] = {"seconds": seconds}
    for name, prom in _RATES.items():
        d = _delta(new.counters.get(prom, 0.0), base.counters.get(prom))
        out[name] = d / seconds if seconds else None
    layers, applied_all, total_all = [], 0.0, 0.0
    for layer in layer_order(new.forward):
        applied, total = new.forward.get(layer, (0.0, 0.0))
        old_applied, old_total = base.forward.get(layer, (0.0, 0.0))
        if old_total > total:  # restarted
            old_applied = old_total = 0.0
        applied, total = applied - old_applied, total - old_total
        applied_all, total_all = applied_all + applied, total_all + total
        layers.append({
            "layer": layer,
            "activation": _share(applied, total),
            "forward_per_s": total / seconds if seconds else None,
        })  # fmt: skip
    out["layers"] = layers
    out["activation"] = _share(applied_all, total_all)
    deltas = {}
    for name, key in _DISTRIBUTIONS.items():
        hist = new.histograms.get(key)
        deltas[name] = hist.minus(base.histograms.get(key)) if hist is not None else None
    out["distributions"] = {
        name: None if h is None else {"bounds": list(h.bounds), "counts": list(h.counts)}
        for name, h in deltas.items()
    }
    out["latency_ms"] = _percentiles_ms(deltas["latency"])
    return out


def history_point(time: float | None, window: Mapping[str, Any]) -> dict[str, Any]:
    """One point of the page's time series (kept by the model, sent once per update)."""
    return {
        "t": time,
        "activation": window["activation"],
        **window["latency_ms"],
        "results_per_s": window["results_per_s"],
        "injected_per_s": window["injected_per_s"],
        "forward_per_s": window["forward_per_s"],
        "layers": {row["layer"]: row["activation"] for row in window["layers"]},
    }


def alerts_view(firing: Iterable[Alert], history: Iterable[Alert], now: float) -> dict:
    """Alerts firing now, and those resolved in the last ``RESOLVED_KEEP_S`` seconds."""
    firing_rows = sorted((_alert_row(a) for a in firing), key=lambda r: -r["since"])
    resolved = [
        _alert_row(a)
        for a in history
        if a.state is AlertState.RESOLVED and now - a.timestamp <= RESOLVED_KEEP_S
    ]
    return {"firing": firing_rows, "resolved": resolved[::-1][:20]}


def _alert_row(a: Alert) -> dict[str, Any]:
    return {
        "rule": a.rule_name,
        "severity": a.severity,
        "state": a.state.value,
        "metric": a.metric,
        "value": a.value,
        "threshold": a.threshold,
        "message": a.message,
        "since": a.started_at,
        "at": a.timestamp,
    }


def health_view(report: Mapping[str, Any] | None) -> dict[str, Any]:
    """The ``/health`` report (non-verbose: the same fields, the same redaction) as rows."""
    if not report:
        return {"status": "unknown", "checks": []}
    checks = report.get("checks") or {}
    rows = [
        {"name": name, "status": c.get("status"), "detail": c.get("detail"),
         "skipped": bool(c.get("skipped"))}
        for name, c in sorted(checks.items())
    ]  # fmt: skip
    return {"status": report.get("status", "unknown"), "time": report.get("timestamp"),
            "checks": rows}  # fmt: skip


def audit_view(entries: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The newest audit entries as stored (already redacted), details cut to a line."""
    rows = []
    for e in entries:
        details = e.get("details")
        text = (
            details
            if isinstance(details, str)
            else json.dumps(details, default=str, sort_keys=True)
        )
        if len(text) > AUDIT_DETAIL_CHARS:
            text = text[: AUDIT_DETAIL_CHARS - 1] + "…"
        rows.append({
            "seq": e.get("seq"), "time": e.get("timestamp"), "operation": e.get("operation"),
            "success": e.get("success"), "error": e.get("error"), "details": text,
        })  # fmt: skip
    return rows


def identity_view(totals: Totals, model_type: str | None) -> dict[str, Any]:
    """Who is being watched: resource attributes, aga-core build, the attached model."""
    build = totals.labels.get(sc.prom("build_info"), {})
    return {
        "service": totals.resource.get("service.name"),
        "instance": totals.resource.get("service.instance.id"),
        "version": totals.resource.get("telemetry.distro.version"),
        "model": model_type,
        "aga": build,
        "resource": dict(sorted(totals.resource.items())),
    }


def build_update(
    new: Totals, old: Totals | None, *, extras: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """The one payload every connected page receives for one snapshot."""
    window = window_view(new, old)
    return {
        "schema": SCHEMA,
        "time": new.time,
        "counters": new.counters,
        "breakdowns": new.breakdowns,
        "gauges": new.gauges,
        "window": window,
        "point": history_point(new.time, window),
        **(extras or {}),
    }


def encode(payload: Any) -> bytes:
    """Compact JSON; NaN and infinities (invalid JSON) become null."""
    try:
        text = json.dumps(payload, separators=(",", ":"), allow_nan=False, default=str)
    except ValueError:
        text = json.dumps(_finite(payload), separators=(",", ":"), default=str)
    return text.encode("utf-8")


def _finite(value: Any) -> Any:
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value
