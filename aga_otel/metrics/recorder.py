"""The metrics sink: batches of contract events → metric data, on the bridge's worker thread.

Forward events are aggregated in bulk by :mod:`aga_otel.metrics.forward` (no SDK call per
event); retrieval and audit events by :mod:`aga_otel.metrics.rare`. Exemplars of the
forward duration histogram come from events carrying the emitter's span context
(``otel_span_context``, set by the bridge's context capture).

``per_event=True`` is the fallback for an application's own ``MeterProvider`` whose views
or readers ask for what :mod:`aga_otel.metrics.feed` cannot reproduce from aggregated data:
every event goes through that provider's SDK instruments, still on the bridge's worker (the
emitting thread pays the same hand-off). Drops are counted by the stack's own recorder only,
so a mirror never counts an event twice.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Sequence

from opentelemetry.metrics import Meter

from aga_otel import semconv as sc
from aga_otel.mapping import parse_audit, parse_forward, parse_retrieval
from aga_otel.metrics.forward import HISTOGRAM_KEYS, ForwardAggregator
from aga_otel.metrics.rare import CountAggregator


def create_instrument(meter: Meter, spec: sc.MetricSpec, callbacks=None, buckets=None):
    """Create the OTel instrument for ``spec`` (name, unit, description, buckets from the
    table, or ``buckets`` as the histogram's advisory bounds)."""
    if spec.kind is sc.Kind.COUNTER:
        if callbacks is not None:
            return meter.create_observable_counter(
                spec.name, callbacks, spec.unit, spec.description
            )
        return meter.create_counter(spec.name, spec.unit, spec.description)
    if spec.kind is sc.Kind.HISTOGRAM:
        return meter.create_histogram(
            spec.name, spec.unit, spec.description,
            explicit_bucket_boundaries_advisory=list(
                spec.buckets or () if buckets is None else buckets
            ),
        )  # fmt: skip
    if spec.kind is sc.Kind.GAUGE:
        return meter.create_observable_gauge(
            spec.name, callbacks or [], spec.unit, spec.description
        )
    return meter.create_observable_up_down_counter(
        spec.name, callbacks or [], spec.unit, spec.description
    )


class ActivationWindow:
    """Applied/total forward counts per second of event time, over a sliding window."""

    def __init__(self, window: float = 60.0, clock=time.time) -> None:
        self.window = window
        self._clock = clock
        self._lock = threading.Lock()
        self._buckets: dict[int, list[int]] = {}

    def add(self, per_second: dict[int, list[int]]) -> None:
        with self._lock:
            for sec, (applied, total) in per_second.items():
                b = self._buckets.setdefault(sec, [0, 0])
                b[0] += applied
                b[1] += total

    def rate(self) -> float | None:
        """Share applied over the window, or None when there were no forward events in it."""
        cutoff = self._clock() - self.window
        with self._lock:
            for sec in [s for s in self._buckets if s + 1 <= cutoff]:
                del self._buckets[sec]
            applied = sum(b[0] for b in self._buckets.values())
            total = sum(b[1] for b in self._buckets.values())
        return applied / total if total else None


class MetricsRecorder:
    """EventSink turning forward/retrieval/audit events into measurements.

    Forward events (``handle_forward``) are folded in bulk by :attr:`forward`, a
    :class:`~aga_otel.metrics.forward.ForwardAggregator` whose metrics the shared reader
    merges into every snapshot. The rare retrieval and audit events are counted by
    :attr:`counts` (:mod:`aga_otel.metrics.rare`); register both with
    ``for p in recorder.producers: reader.add_producer(p, ...)``. With ``per_event`` (the
    application's ``MeterProvider``) everything goes through that provider's instruments.
    """

    name = "metrics"

    def __init__(
        self,
        meter: Meter,
        per_layer: bool = True,
        max_layers: int = 1024,
        activation: ActivationWindow | None = None,
        exemplars: bool = False,
        per_event: bool = False,
        buckets: dict | None = None,
    ) -> None:
        self.max_layers = max_layers
        self.per_layer = per_layer
        self.exemplars = exemplars  # events may carry span contexts (context capture on)
        self.activation = activation or ActivationWindow()
        self.forward = ForwardAggregator(per_layer, max_layers, buckets)
        self.counts = CountAggregator((buckets or {}).get("retrieval_score"))
        # explicit bounds by histogram key, as aggregated here (``histogram_buckets``)
        self.bounds = {**dict(zip(HISTOGRAM_KEYS, self.forward.bounds)),
                       "retrieval_score": self.counts.score_bounds}  # fmt: skip
        drops = {sc.DROP_MALFORMED: 0, sc.DROP_UNKNOWN_TYPE: 0}
        self._drops: dict[str, int] = drops
        self.dropped: dict[str, int] = {} if per_event else drops  # read by the bridge's stats
        self.per_event = per_event
        m = {spec.key: spec for spec in sc.METRICS}
        if per_event:
            self.name = "metrics.app"
            self._fwd = create_instrument(meter, m["forward"])
            self._fwd_hists = tuple(
                create_instrument(meter, m[k], buckets=self.bounds[k]) for k in HISTOGRAM_KEYS
            )
            self._fwd_attrs: dict[tuple[int, bool], dict] = {}
            # The application's pipeline owns the aggregation: its instruments, per batch.
            self._retrieval = create_instrument(meter, m["retrieval"])
            self._results = create_instrument(meter, m["retrieval_results"])
            self._injected = create_instrument(meter, m["retrieval_injected"])
            self._audit = create_instrument(meter, m["audit_operations"])
            self._score = create_instrument(
                meter, m["retrieval_score"], buckets=self.bounds["retrieval_score"]
            )
        self._layer_attrs: dict[int, dict] = {}
        self._retrieval_totals: tuple[int, int] | None = None  # (results, injected) once any

    @property
    def producers(self) -> tuple:
        """The MetricProducers whose data the shared reader merges into its snapshots."""
        return (self.forward, self.counts)

    def _attrs(self, layer: int) -> dict:
        a = self._layer_attrs.get(layer)
        if a is None:
            a = {sc.ATTR_LAYER: str(layer)} if self.per_layer else {}
            self._layer_attrs[layer] = a
        return a

    def handle_forward(self, events: Sequence) -> None:
        """Forward events only (the bridge's forward lane): bulk aggregation."""
        if self.per_event:
            self._drops[sc.DROP_MALFORMED] += self._record_each(events)
            return
        malformed, per_second = self.forward.add(events, self.exemplars)
        if per_second:
            self.activation.add(per_second)
        if malformed:
            self._drops[sc.DROP_MALFORMED] += malformed

    def _record_each(self, events: Sequence) -> int:
        """Per-event mode: three ``record`` calls per forward event, and one counter ``add``
        per (layer, applied) per batch (the same sums, a quarter fewer SDK calls)."""
        malformed = 0
        counts: Counter = Counter()
        duration, gate, entropy = self._fwd_hists
        for ev in events:
            try:
                s = parse_forward(getattr(ev, "data", None), self.max_layers)
            except Exception:  # a hostile event costs only itself
                s = None
            if s is None:
                malformed += 1
                continue
            counts[(s.layer, s.applied)] += 1
            layer_attrs = self._attrs(s.layer)
            duration.record(s.duration_s, layer_attrs)
            gate.record(s.gate, layer_attrs)
            entropy.record(s.entropy, layer_attrs)
        for (layer, applied), n in counts.items():
            attrs = self._fwd_attrs.get((layer, applied))
            if attrs is None:
                flag = {sc.ATTR_APPLIED: "true" if applied else "false"}
                attrs = self._fwd_attrs[(layer, applied)] = {**self._attrs(layer), **flag}
            self._fwd.add(n, attrs)
        return malformed

    def handle_batch(self, events: Sequence) -> None:
        """Any events: forward ones are aggregated in bulk, the others one by one."""
        forward = [ev for ev in events if getattr(ev, "type", None) == sc.EVENT_FORWARD]
        if forward:
            self.handle_forward(forward)
            if len(forward) == len(events):
                return
        retrieval: dict[int, list[int]] = {}
        audit: Counter = Counter()
        scores: list[float] = []
        malformed = unknown = 0
        for ev in events:
            try:
                etype = getattr(ev, "type", None)
                if etype == sc.EVENT_FORWARD:
                    continue
                if etype == sc.EVENT_RETRIEVAL:
                    r = parse_retrieval(getattr(ev, "data", None), self.max_layers)
                    if r is None:
                        malformed += 1
                        continue
                    acc = retrieval.setdefault(r.layer, [0, 0, 0])
                    acc[0] += 1
                    acc[1] += r.results
                    acc[2] += r.injected
                    scores.extend(r.scores)
                elif etype == sc.EVENT_AUDIT:
                    a = parse_audit(getattr(ev, "data", None))
                    if a is None:
                        malformed += 1
                        continue
                    audit[(a.operation, a.success)] += 1
                else:
                    unknown += 1
            except Exception:  # a hostile event costs only itself
                malformed += 1
        self._flush(retrieval, audit, scores)
        self._drops[sc.DROP_MALFORMED] += malformed
        self._drops[sc.DROP_UNKNOWN_TYPE] += unknown

    def _flush(self, retrieval: dict, audit: Counter, scores: list[float]) -> None:
        if retrieval:  # one tuple assignment: a reader on another thread sees both or neither
            results, injected = self._retrieval_totals or (0, 0)
            self._retrieval_totals = (
                results + sum(r for _, r, _ in retrieval.values()),
                injected + sum(i for _, _, i in retrieval.values()),
            )
        if not self.per_event:
            self.counts.add(retrieval, self._attrs, audit, scores)
            return
        for layer, (calls, results, injected) in retrieval.items():
            attrs = self._attrs(layer)
            self._retrieval.add(calls, attrs)
            self._results.add(results, attrs)
            self._injected.add(injected, attrs)
        for score in scores:
            self._score.record(score)
        for (operation, success), n in audit.items():
            self._audit.add(
                n, {sc.ATTR_OPERATION: operation, sc.ATTR_SUCCESS: "true" if success else "false"}
            )

    def retrieval_totals(self) -> tuple[int, int] | None:
        """``(results, injected)`` summed over every retrieval so far; None before the first."""
        return self._retrieval_totals

    def shutdown(self, timeout: float) -> None:
        pass
