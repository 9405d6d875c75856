"""Pure functions: contract event data → validated samples (no I/O, no OpenTelemetry).

Event data is untrusted input from whatever bus we are subscribed to. Each parser returns a
sample, or ``None`` when the event is malformed (not a dict, a field missing or of the
wrong type, NaN/inf, negative durations, a layer index outside ``[0, max_layers)``, a value
past the bounds below, a ``__float__`` that raises); the caller counts those as
``aga_otel_events_dropped_total{reason="malformed"}``.

Bounds keep one hostile value from poisoning a whole series for the life of the process: a
count of 2**64 does not fit OTLP's int64 and would make every later export fail, and a
gate of 1e308 would turn a histogram's sum into inf.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

from aga_otel.semconv import KNOWN_AUDIT_OPERATIONS, OTHER_OPERATION

MAX_COUNT = 2**31 - 1  # results/injected per retrieval call
MAX_VALUE = 1e6  # gate and entropy (contract: gate 0..~1, entropy typically 0..8)
MAX_LATENCY_US = 1e9  # a quarter of an hour inside one layer is not a measurement


class ForwardSample(NamedTuple):
    layer: int
    applied: bool
    gate: float
    entropy: float
    duration_s: float


class RetrievalSample(NamedTuple):
    layer: int
    results: int
    injected: int
    scores: tuple[float, ...]  # only the valid ones (finite, 0..1)


class AuditSample(NamedTuple):
    operation: str  # a known aga-core operation name or "other"
    success: bool


# --- the one reading of a value: metrics, log records, spans, inject rows and gauges ------
def number(value: Any) -> float | None:
    """A finite float from int/float (or anything with ``__float__``, e.g. numpy), else None.

    Rejected: bools, text (``"3"`` is not a measurement), NaN/inf, ints too large for a
    float, and a ``__float__`` that raises (a tensor's RuntimeError after a CUDA fault).
    """
    if type(value) is float:  # the contract's type: the common case, decided at once
        return value if math.isfinite(value) else None
    if isinstance(value, (bool, str, bytes, bytearray)):
        return None
    try:
        f = float(value)
    except Exception:
        return None
    return f if math.isfinite(f) else None


def bounded(value: Any, high: float) -> float | None:
    """:func:`number` within ``[0, high]`` (gate/entropy: MAX_VALUE; latency: MAX_LATENCY_US)."""
    f = number(value)
    return f if f is not None and 0.0 <= f <= high else None


def count(value: Any) -> int | None:
    """An int (never a bool) within ``[0, MAX_COUNT]``, else None."""
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_COUNT:
        return None
    return int(value)


def score(value: Any) -> float | None:
    """A retrieval score: :func:`number` within ``[0, 1]``."""
    return bounded(value, 1.0)


def timestamp(value: Any) -> float | None:
    """Seconds since the epoch: a positive :func:`number`."""
    f = number(value)
    return f if f is not None and f > 0 else None


def _flag(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    return None


def _layer(value: Any, max_layers: int) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < max_layers:
        return None
    return value


def parse_forward(data: Any, max_layers: int) -> ForwardSample | None:
    if not isinstance(data, dict):
        return None
    try:
        layer = _layer(data["layer_idx"], max_layers)
        applied = _flag(data["aga_applied"])
        gate = number(data["gate_mean"])
        entropy = number(data["entropy_mean"])
        latency_us = number(data["latency_us"])
    except KeyError:
        return None
    if layer is None or applied is None or gate is None or entropy is None or latency_us is None:
        return None
    # The bounds of :func:`bounded`, inline: this runs per forward event with tracing on.
    if not (
        0 <= gate <= MAX_VALUE and 0 <= entropy <= MAX_VALUE and 0 <= latency_us <= MAX_LATENCY_US
    ):
        return None
    return ForwardSample(layer, applied, gate, entropy, latency_us * 1e-6)


def parse_retrieval(data: Any, max_layers: int) -> RetrievalSample | None:
    if not isinstance(data, dict):
        return None
    try:
        layer = _layer(data["layer_idx"], max_layers)
        results = count(data["results_count"])
        injected = count(data["injected_count"])
    except KeyError:
        return None
    if layer is None or results is None or injected is None or injected > results:
        return None
    raw = data.get("scores")
    scores: tuple[float, ...] = ()
    if isinstance(raw, (list, tuple)):
        valid = (score(s) for s in raw[:results] if s is not None)
        scores = tuple(s for s in valid if s is not None)
    return RetrievalSample(layer, results, injected, scores)


def operation_label(operation: str) -> str:
    """Closed set for the ``operation`` attribute: known aga-core names, else ``other``."""
    return operation if operation in KNOWN_AUDIT_OPERATIONS else OTHER_OPERATION


def parse_audit(data: Any) -> AuditSample | None:
    if not isinstance(data, dict):
        return None
    operation = data.get("operation")
    success = _flag(data.get("success"))
    if not isinstance(operation, str) or success is None:
        return None
    return AuditSample(operation_label(operation), success)
