"""Forward events aggregated in bulk, produced as standard OTel metric data at collection.

Forward events are ~all of aga-core's traffic (one per hooked layer per decoding step). Going
through the SDK's instruments costs one ``add`` plus three ``record`` calls per event, each
with an attribute lookup, a lock and a bucket search: tens of µs of GIL-holding CPU per event
at generation pacing. Here a batch is folded straight into per-layer cumulative state
(counts, bucket counts, sums, min/max: what the SDK's explicit-bucket aggregation keeps), and
:meth:`ForwardAggregator.produce` turns that state into the same ``Metric`` objects the SDK
would have produced — the MetricProducer idea of the OpenTelemetry metrics spec
(https://opentelemetry.io/docs/specs/otel/metrics/sdk/#metricproducer), which Python SDK
1.45 lacks; :class:`aga_otel.metrics.reader.SharedMetricReader` merges them into every
snapshot. Names, units, descriptions and bucket bounds come from :mod:`aga_otel.semconv`.

Exemplars follow the SDK's explicit-bucket reservoir (the last sampled measurement per
bucket) with the trace-based filter (sampled spans only), but are *not* drained by a
collection: each snapshot asks for the exemplars newer than its consumer's previous one, so
OTLP, the Prometheus endpoint and the in-process consumers each see those of their own
interval, whatever their schedules.
"""

from __future__ import annotations

import threading
import time
from bisect import bisect_left
from collections.abc import Iterable, Sequence

from opentelemetry.sdk.metrics import Exemplar
from opentelemetry.sdk.metrics.export import (
    AggregationTemporality,
    Histogram,
    HistogramDataPoint,
    Metric,
    NumberDataPoint,
    Sum,
)

from aga_otel import semconv as sc
from aga_otel.mapping import MAX_LATENCY_US, MAX_VALUE, parse_forward
from aga_otel.metrics.histogram import Cursor, Hist, delta_counts, open_cursor
from aga_otel.tracing.capture import SPAN_CONTEXT_ATTR

_CUMULATIVE = AggregationTemporality.CUMULATIVE
_DELTA = AggregationTemporality.DELTA
HISTOGRAM_KEYS = ("forward_duration", "gate_value", "entropy_value")
_SPECS = tuple(sc.BY_KEY[k] for k in HISTOGRAM_KEYS)
_HIST_SLOTS = ("dur", "gate", "ent")  # the _Layer attribute of each histogram key
DEFAULT_BOUNDS = tuple(tuple(s.buckets or ()) for s in _SPECS)  # semconv's, per HISTOGRAM_KEYS
_INF = float("inf")
_TIME_TYPES = (float, int)
_MAX_TIMESTAMP = 1e11  # seconds; anything else is not a Unix time (the batch's clock is used)


class _Layer:
    """Cumulative state of one attribute set (one layer, or all layers together)."""

    __slots__ = ("attrs", "start_ns", "applied", "bypassed", "start_applied", "start_bypassed",
                 "dur", "gate", "ent", "exemplars")  # fmt: skip

    def __init__(self, attrs: dict[str, str], now_ns: int, bounds: tuple) -> None:
        self.attrs = attrs
        self.start_ns = now_ns
        self.applied = self.bypassed = 0
        self.start_applied = self.start_bypassed = now_ns
        self.dur, self.gate, self.ent = (Hist(len(b)) for b in bounds)
        self.exemplars: dict[int, tuple[float, int, int, int]] = {}  # bucket → last sampled


class ForwardAggregator:
    """Folds batches of forward events into cumulative per-layer state (worker thread)."""

    def __init__(
        self, per_layer: bool = True, max_layers: int = 1024, buckets: dict | None = None
    ) -> None:
        """``buckets``: explicit bounds by histogram key (``histogram_buckets``), replacing
        semconv's."""
        buckets = buckets or {}
        self.bounds = tuple(
            tuple(float(b) for b in buckets[k]) if k in buckets else d
            for k, d in zip(HISTOGRAM_KEYS, DEFAULT_BOUNDS)
        )
        self.per_layer = per_layer
        self.max_layers = max_layers
        self._layers: dict[int, _Layer] = {}
        self._lock = threading.Lock()
        self._cursors: list[Cursor] = []  # one per delta reader (metrics/feed.py)
        self.malformed = 0

    def add(self, events: Iterable, traced: bool = False) -> tuple[int, dict[int, list[int]]]:
        """Aggregate forward events; returns ``(malformed, {second: [applied, total]})``.

        ``traced``: events may carry the emitter's span context (context capture is on), so
        sampled spans leave exemplars on the duration histogram. A malformed or hostile
        event (a field missing, a wrong type, NaN, out of range, a ``__float__`` that
        raises) costs only itself: it is counted and skipped, never half-applied.
        """
        layers, max_layers, per_layer = self._layers, self.max_layers, self.per_layer
        bounds = self.bounds
        dur_bounds, gate_bounds, ent_bounds = bounds
        per_second: dict[int, list[int]] = {}
        malformed = 0
        now_ns = time.time_ns()
        now_sec = now_ns // 1_000_000_000
        lo, hi, b = 1.0, 0.0, [0, 0]  # the current second's bounds and [applied, total]
        with self._lock:
            for ev in events:
                try:
                    d = ev.data
                    layer, applied = d["layer_idx"], d["aga_applied"]
                    gate, ent, lat = d["gate_mean"], d["entropy_mean"], d["latency_us"]
                    # Fast path: exactly the contract's types, in range (NaN fails every test).
                    if not (
                        type(layer) is int and 0 <= layer < max_layers
                        and type(applied) is bool and type(gate) is float
                        and type(ent) is float and type(lat) is float
                        and 0.0 <= gate <= MAX_VALUE and 0.0 <= ent <= MAX_VALUE
                        and 0.0 <= lat <= MAX_LATENCY_US
                    ):  # fmt: skip
                        s = parse_forward(d, max_layers)  # ints, numpy scalars, tensors...
                        if s is None:
                            malformed += 1
                            continue
                        layer, applied, gate, ent, dur = s
                    else:
                        dur = lat * 1e-6  # as parse_forward computes it, to the last bit
                    ts = getattr(ev, "timestamp", None)
                    # Events arrive in time order: most fall in the second of the one
                    # before, whose [lo, hi) and counts are at hand (no int(), no lookup).
                    if not (type(ts) is float and lo <= ts < hi):
                        valid = type(ts) in _TIME_TYPES and 0 < ts < _MAX_TIMESTAMP
                        sec = int(ts) if valid else now_sec
                        b = per_second.get(sec)
                        if b is None:
                            b = per_second[sec] = [0, 0]
                        lo, hi = (float(sec), sec + 1.0) if valid else (1.0, 0.0)
                    span_context = getattr(ev, SPAN_CONTEXT_ATTR, None) if traced else None
                except Exception:
                    malformed += 1
                    continue
                key = layer if per_layer else 0
                st = layers.get(key)
                if st is None:
                    attrs = {sc.ATTR_LAYER: str(layer)} if per_layer else {}
                    st = layers[key] = _Layer(attrs, now_ns, bounds)
                if applied:
                    if not st.applied:
                        st.start_applied = now_ns
                    st.applied += 1
                else:
                    if not st.bypassed:
                        st.start_bypassed = now_ns
                    st.bypassed += 1
                # The three histogram updates are written out, not a helper called three
                # times: this loop runs once per forward event, and a call costs ~0.1 µs.
                h = st.dur
                i = bisect_left(dur_bounds, dur)
                h.counts[i] += 1
                h.total += dur
                if dur < h.low:
                    h.low = dur
                if dur > h.high:
                    h.high = dur
                h = st.gate
                h.counts[bisect_left(gate_bounds, gate)] += 1
                h.total += gate
                if gate < h.low:
                    h.low = gate
                if gate > h.high:
                    h.high = gate
                h = st.ent
                h.counts[bisect_left(ent_bounds, ent)] += 1
                h.total += ent
                if ent < h.low:
                    h.low = ent
                if ent > h.high:
                    h.high = ent
                if span_context is not None:
                    _sample_exemplar(st, i, dur, span_context)
                b[0] += applied
                b[1] += 1
        self.malformed += malformed
        return malformed, per_second

    def produce(
        self, exemplars_since_ns: int | None = 0, cursor: Cursor | None = None
    ) -> list[Metric]:
        """The forward metrics as OTel ``Metric`` objects (empty when there is nothing).

        Cumulative by default. ``exemplars_since_ns``: attach the duration exemplars recorded
        after this time (0: the latest of every bucket, as a Prometheus scrape shows them;
        None: none). With a ``cursor`` (:meth:`open_cursor`): delta points since that
        cursor's previous call, as the SDK's delta aggregation gives them — series without
        new events left out, each interval's own min/max, its exemplars only.
        """
        now = time.time_ns()
        forward: list[NumberDataPoint] = []
        hists: tuple[list, list, list] = ([], [], [])
        with self._lock:
            if cursor is None:
                for st in self._layers.values():
                    _cumulative_points(st, now, exemplars_since_ns, forward, hists, self.bounds)
            else:
                for key, h in self._hists():
                    h.cut(key, self._cursors)
                for key, st in self._layers.items():
                    _delta_points(key, st, now, cursor, exemplars_since_ns, forward, hists,
                                  self.bounds)  # fmt: skip
                cursor.finish(now)
        if not forward:
            return []
        temporality = _CUMULATIVE if cursor is None else _DELTA
        spec = sc.BY_KEY["forward"]
        metrics = [Metric(spec.name, spec.description, spec.unit, Sum(forward, temporality, True))]
        for spec, points in zip(_SPECS, hists):
            metrics.append(
                Metric(spec.name, spec.description, spec.unit, Histogram(points, temporality))
            )
        return metrics

    def open_cursor(self) -> Cursor:
        """A delta reader's cursor: its first :meth:`produce` covers everything so far."""
        with self._lock:
            return open_cursor(self._cursors, self._hists())

    def _hists(self):
        for key, st in self._layers.items():
            yield (key, 0), st.dur
            yield (key, 1), st.gate
            yield (key, 2), st.ent

    def totals(self) -> dict[str, tuple]:
        """The forward metrics summed over their layers, for consumers that need no labels.

        ``{"forward": (count,)}`` and, per histogram key of :mod:`aga_otel.semconv`,
        ``(bounds, bucket counts, count, sum, min, max)``; sums are added layer by layer, as
        a reader of :meth:`produce`'s points adds them. Far cheaper than :meth:`produce`
        (no data point objects): the alert engine reads these every evaluation. Empty
        before data.
        """
        out: dict[str, tuple] = {}
        with self._lock:
            states = list(self._layers.values())
            if not states:
                return out
            count = sum(st.applied + st.bypassed for st in states)
            out["forward"] = (count,)
            for key, bounds, which in zip(HISTOGRAM_KEYS, self.bounds, _HIST_SLOTS):
                hists = [getattr(st, which) for st in states]
                counts = [sum(col) for col in zip(*(h.counts for h in hists))]
                total = 0.0
                for h in hists:
                    total += h.total
                low = min(h.minimum() for h in hists)
                high = max(h.maximum() for h in hists)
                out[key] = (bounds, tuple(counts), count, total, low, high)
        return out

    @property
    def layer_count(self) -> int:
        return len(self._layers)


def _cumulative_points(
    st: _Layer, now: int, since: int | None, forward: list, hists: tuple, bounds: tuple
) -> None:
    for n, start, flag in ((st.applied, st.start_applied, "true"),
                           (st.bypassed, st.start_bypassed, "false")):  # fmt: skip
        if n:
            forward.append(NumberDataPoint({**st.attrs, sc.ATTR_APPLIED: flag}, start, now, n))
    count = st.applied + st.bypassed
    for out, h, b in zip(hists, (st.dur, st.gate, st.ent), bounds):
        ex = _exemplars(st, since) if h is st.dur else []
        out.append(HistogramDataPoint(
            dict(st.attrs), st.start_ns, now, count, h.total, list(h.counts), b,
            h.minimum(), h.maximum(), ex,
        ))  # fmt: skip


def _delta_points(
    key: int, st: _Layer, now: int, cursor: Cursor, since: int | None, forward: list,
    hists: tuple, bounds: tuple,
) -> None:  # fmt: skip
    """One layer's points since ``cursor``'s previous collection (none without events)."""
    prev = cursor.prev.get(key)
    applied0, bypassed0, counts0, totals0 = prev or (0, 0, (None, None, None), (0.0, 0.0, 0.0))
    start = cursor.collected_ns
    for n, first, flag in ((st.applied - applied0, st.start_applied, "true"),
                           (st.bypassed - bypassed0, st.start_bypassed, "false")):  # fmt: skip
        if n:
            attrs = {**st.attrs, sc.ATTR_APPLIED: flag}
            forward.append(NumberDataPoint(attrs, start or first, now, n))
    count = st.applied + st.bypassed - applied0 - bypassed0
    layer_hists = (st.dur, st.gate, st.ent)
    if count:
        for i, (out, h, b) in enumerate(zip(hists, layer_hists, bounds)):
            low, high = cursor.interval_extremes((key, i))
            ex = _exemplars(st, since) if i == 0 else []
            out.append(HistogramDataPoint(
                dict(st.attrs), start or st.start_ns, now, count, h.total - totals0[i],
                delta_counts(h.counts, counts0[i]), b, low, high, ex,
            ))  # fmt: skip
    cursor.prev[key] = (st.applied, st.bypassed, tuple(tuple(h.counts) for h in layer_hists),
                        tuple(h.total for h in layer_hists))  # fmt: skip


def _sample_exemplar(st: _Layer, bucket: int, value: float, span_context) -> None:
    """Keep the last measurement of a sampled span per bucket (trace-based filter)."""
    try:
        if span_context.trace_flags.sampled:
            st.exemplars[bucket] = (value, time.time_ns(), span_context.trace_id,
                                    span_context.span_id)  # fmt: skip
    except Exception:  # a foreign SpanContext-like object: no exemplar, the data stays
        pass


def _exemplars(st: _Layer, since_ns: int | None) -> Sequence[Exemplar]:
    if since_ns is None or not st.exemplars:
        return []
    return [
        Exemplar({}, value, t, span_id, trace_id)
        for _, (value, t, trace_id, span_id) in sorted(st.exemplars.items())
        if t > since_ns
    ]
