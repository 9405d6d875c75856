"""Quantiles from explicit-bucket histogram counts, the way PromQL's histogram_quantile does.

Accuracy: the estimate interpolates linearly inside the bucket holding the wanted rank,
so it is never further from the exact quantile of the same observations than the width
of that bucket. A comparison against a threshold that is itself a bucket boundary (1 ms
and 5 ms are) is exact: the estimate exceeds the boundary exactly when more than
``1 - q`` of the observations do. Above the last finite boundary the estimate is that
boundary, as in Prometheus.
"""

from __future__ import annotations

import math
from collections.abc import Sequence


def histogram_quantile(q: float, bounds: Sequence[float], counts: Sequence[int]) -> float | None:
    """The ``q`` quantile (0..1) of a histogram; ``None`` when it holds no observation.

    ``counts[i]`` counts observations in ``(bounds[i-1], bounds[i]]`` (OpenTelemetry
    explicit buckets); the last slot is ``(bounds[-1], +Inf)``. The first bucket's lower
    edge is taken as 0, which suits the non-negative quantities measured here.
    """
    total = sum(counts)
    if total <= 0 or not bounds or not 0 <= q <= 1 or math.isnan(q):
        return None
    rank = q * total
    seen = 0
    for i, n in enumerate(counts):
        if n and seen + n >= rank:
            if i >= len(bounds):
                return float(bounds[-1])
            lower = 0.0 if i == 0 else float(bounds[i - 1])
            lower = min(lower, float(bounds[i]))
            return lower + (float(bounds[i]) - lower) * (rank - seen) / n
        seen += n
    return float(bounds[-1])


def bucket_width_at(value: float, bounds: Sequence[float]) -> float:
    """Width of the bucket that holds ``value`` (the error bound stated above)."""
    lower = 0.0
    for b in bounds:
        if value <= b:
            return b - lower
        lower = b
    return math.inf
