"""The metrics sink: batches of contract events → measurements on the table's instruments.

Runs on the bridge's worker thread. Counters are pre-aggregated per batch (one ``add`` per
attribute set per batch instead of one per event); histograms take one ``record`` per
value. Attribute dicts are built once per layer and reused.

Exemplars: an event carrying the emitter's span context (``otel_span_context``, set by the
bridge's context capture) records its duration with a context holding that span, so the
SDK's trace-based exemplar filter attaches the trace and span ids to the histogram's data
points. Without it ``record`` gets no context; on the worker thread the current context
never holds a span, so no exemplar is sampled.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Sequence

from opentelemetry.metrics import Meter

from aga_otel import semconv as sc
from aga_otel.mapping import parse_audit, parse_forward, parse_retrieval
from aga_otel.tracing.capture import SPAN_CONTEXT_ATTR, SpanContextCache


def create_instrument(meter: Meter, spec: sc.MetricSpec, callbacks=None):
    """Create the OTel instrument for ``spec`` (name, unit, description, buckets from the table)."""
    if spec.kind is sc.Kind.COUNTER:
        if callbacks is not None:
            return meter.create_observable_counter(
                spec.name, callbacks, spec.unit, spec.description
            )
        return meter.create_counter(spec.name, spec.unit, spec.description)
    if spec.kind is sc.Kind.HISTOGRAM:
        return meter.create_histogram(
            spec.name, spec.unit, spec.description,
            explicit_bucket_boundaries_advisory=list(spec.buckets or ()),
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
    """EventSink turning forward/retrieval/audit events into measurements."""

    name = "metrics"

    def __init__(
        self,
        meter: Meter,
        per_layer: bool = True,
        max_layers: int = 1024,
        activation: ActivationWindow | None = None,
    ) -> None:
        self.max_layers = max_layers
        self.per_layer = per_layer
        self.activation = activation or ActivationWindow()
        self.dropped: dict[str, int] = {sc.DROP_MALFORMED: 0, sc.DROP_UNKNOWN_TYPE: 0}
        m = {spec.key: spec for spec in sc.METRICS}
        self._forward = create_instrument(meter, m["forward"])
        self._retrieval = create_instrument(meter, m["retrieval"])
        self._results = create_instrument(meter, m["retrieval_results"])
        self._injected = create_instrument(meter, m["retrieval_injected"])
        self._audit = create_instrument(meter, m["audit_operations"])
        self._duration = create_instrument(meter, m["forward_duration"])
        self._gate = create_instrument(meter, m["gate_value"])
        self._entropy = create_instrument(meter, m["entropy_value"])
        self._score = create_instrument(meter, m["retrieval_score"])
        self._layer_attrs: dict[int, dict] = {}
        self._forward_attrs: dict[tuple[int, bool], dict] = {}
        self._exemplar_contexts = SpanContextCache()

    def _attrs(self, layer: int) -> dict:
        a = self._layer_attrs.get(layer)
        if a is None:
            a = {sc.ATTR_LAYER: str(layer)} if self.per_layer else {}
            self._layer_attrs[layer] = a
        return a

    def handle_batch(self, events: Sequence) -> None:
        forward: Counter = Counter()
        retrieval: dict[int, list[int]] = {}
        audit: Counter = Counter()
        per_second: dict[int, list[int]] = {}
        malformed = unknown = 0
        max_layers = self.max_layers
        dur, gate, ent = self._duration.record, self._gate.record, self._entropy.record
        exemplar_context = self._exemplar_contexts.get
        for ev in events:
            etype = getattr(ev, "type", None)
            data = getattr(ev, "data", None)
            if etype == sc.EVENT_FORWARD:
                s = parse_forward(data, max_layers)
                if s is None:
                    malformed += 1
                    continue
                attrs = self._attrs(s.layer)
                span_context = getattr(ev, SPAN_CONTEXT_ATTR, None)
                if span_context is None:
                    dur(s.duration_s, attrs)
                else:  # exemplars point at the emitter's span
                    dur(s.duration_s, attrs, exemplar_context(span_context))
                gate(s.gate, attrs)
                ent(s.entropy, attrs)
                forward[(s.layer, s.applied)] += 1
                ts = getattr(ev, "timestamp", None)
                sec = int(ts) if isinstance(ts, (int, float)) and ts == ts else int(time.time())
                b = per_second.get(sec)
                if b is None:
                    b = per_second[sec] = [0, 0]
                b[0] += s.applied
                b[1] += 1
            elif etype == sc.EVENT_RETRIEVAL:
                r = parse_retrieval(data, max_layers)
                if r is None:
                    malformed += 1
                    continue
                acc = retrieval.setdefault(r.layer, [0, 0, 0])
                acc[0] += 1
                acc[1] += r.results
                acc[2] += r.injected
                for score in r.scores:
                    self._score.record(score)
            elif etype == sc.EVENT_AUDIT:
                a = parse_audit(data)
                if a is None:
                    malformed += 1
                    continue
                audit[(a.operation, a.success)] += 1
            else:
                unknown += 1
        self._flush(forward, retrieval, audit)
        if per_second:
            self.activation.add(per_second)
        self.dropped[sc.DROP_MALFORMED] += malformed
        self.dropped[sc.DROP_UNKNOWN_TYPE] += unknown

    def _flush(self, forward: Counter, retrieval: dict, audit: Counter) -> None:
        for (layer, applied), n in forward.items():
            key = (layer, applied)
            attrs = self._forward_attrs.get(key)
            if attrs is None:
                attrs = {**self._attrs(layer), sc.ATTR_APPLIED: "true" if applied else "false"}
                self._forward_attrs[key] = attrs
            self._forward.add(n, attrs)
        for layer, (calls, results, injected) in retrieval.items():
            attrs = self._attrs(layer)
            self._retrieval.add(calls, attrs)
            self._results.add(results, attrs)
            self._injected.add(injected, attrs)
        for (operation, success), n in audit.items():
            self._audit.add(
                n, {sc.ATTR_OPERATION: operation, sc.ATTR_SUCCESS: "true" if success else "false"}
            )

    def shutdown(self, timeout: float) -> None:
        pass
