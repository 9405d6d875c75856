"""Percentiles from histogram buckets: PromQL-style interpolation and its stated accuracy."""

from __future__ import annotations

import random

import pytest
from test_alert_support import Clock, Instruments

from aga_otel import semconv
from aga_otel.alerts.quantile import bucket_width_at, histogram_quantile
from aga_otel.alerts.signals import evaluate
from aga_otel.alerts.snapshot import SnapshotHistory, snapshot_from

BOUNDS = semconv.metric("forward_duration").buckets


@pytest.mark.parametrize(
    ("q", "bounds", "counts", "expected"),
    [
        (0.5, (1.0, 2.0), (0, 10, 0), 1.5),  # middle of the (1, 2] bucket
        (0.99, (1.0, 2.0), (0, 100, 0), 1.99),
        (0.5, (1.0, 2.0), (10, 0, 0), 0.5),  # first bucket starts at 0
        (0.99, (1.0, 2.0), (1, 1, 98), 2.0),  # +Inf bucket: last finite boundary
        (0.5, (1.0, 2.0), (0, 0, 0), None),  # no observation: no value, not 0
        (0.0, (1.0, 2.0), (0, 4, 0), 1.0),
    ],
)
def test_histogram_quantile_table(q, bounds, counts, expected):
    got = histogram_quantile(q, bounds, counts)
    assert got == (None if expected is None else pytest.approx(expected))


def _latency_stream(rng: random.Random, n: int, tail_ms: float) -> list[float]:
    """Log-normal forward durations around 120 µs with a share of slow steps near ``tail_ms``."""
    out = []
    for _ in range(n):
        if rng.random() < 0.02:
            out.append(rng.uniform(0.5, 1.5) * tail_ms / 1000)
        else:
            out.append(rng.lognormvariate(-9.0, 0.5))  # median e^-9 s ≈ 123 µs
    return out


def _exact(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, max(0, int(q * len(s) + 0.5) - 1))]


@pytest.mark.parametrize("tail_ms", [0.6, 1.2, 4.0, 8.0])
def test_percentiles_within_one_bucket_of_exact(tail_ms):
    rng = random.Random(int(tail_ms * 10))
    values = _latency_stream(rng, 20_000, tail_ms)
    inst, clock = Instruments(), Clock()
    history = SnapshotHistory(horizon=60, start=clock())
    for v in values:
        inst.record("forward_duration", v, layer=rng.randrange(4))
    clock.advance(5)
    history.add(snapshot_from(inst.collect(), ["forward_duration"], clock()))
    view = history.window(60)
    for metric, q in (
        ("latency_p50_seconds", 0.5), ("latency_p95_seconds", 0.95), ("latency_p99_seconds", 0.99)
    ):  # fmt: skip
        exact = _exact(values, q)
        est = evaluate(metric, view)
        assert abs(est - exact) <= bucket_width_at(exact, BOUNDS), (metric, est, exact)
        # Thresholds on bucket boundaries (1 ms, 5 ms) decide exactly as the raw data would.
        for threshold in (0.001, 0.005):
            share_above = sum(v > threshold for v in values) / len(values)
            if abs(share_above - (1 - q)) > 1e-3:  # ties at the boundary are ambiguous
                assert (est > threshold) == (share_above > 1 - q), (metric, threshold)
