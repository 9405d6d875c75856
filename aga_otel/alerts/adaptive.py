"""Adaptive thresholds: a robust baseline learned from the metric's own recent history.

For metrics whose normal level depends on the model and the workload (activation rate,
entropy mean, latency), an ``kind="adaptive"`` rule learns the median and the median
absolute deviation (MAD) of the values it evaluates over ``learning_seconds``, and fires
when a value lies more than ``sensitivity`` robust standard deviations (1.4826 × MAD)
from the median in the direction of the rule's operator (``>``/``>=`` above, ``<``/``<=``
below, ``==`` either way) and, in addition, more than ``threshold`` away in absolute
terms (0 by default). It judges nothing before it has learned for ``learning_seconds``;
afterwards the baseline rolls over the last ``max(learning_seconds, 1 h)`` so that the
spread estimate rests on enough values (a 5-minute MAD is noisy enough to double the false
alarms of a 4-sigma rule) while still following slow drift. Median and MAD ignore the odd outlier that would drag a mean and
standard deviation along. Values seen while the rule is pending or firing are not
learned, so an anomaly never becomes the new normal while it lasts.
"""

from __future__ import annotations

import statistics
from collections import deque

# 1.4826 × MAD estimates the standard deviation of normally distributed data.
MAD_TO_SIGMA = 1.4826
# Fewest values before the baseline is trusted, whatever learning_seconds says.
MIN_SAMPLES = 5
# A perfectly flat history has MAD 0; keep a floor of 1 % of the median so that the
# smallest wobble of a constant metric is not an "infinite-sigma" anomaly.
RELATIVE_SCALE_FLOOR = 0.01
ABSOLUTE_SCALE_FLOOR = 1e-12
# How long the baseline remembers once learned, and a cap on values kept (a median over
# 2000 values costs well under a millisecond per evaluation).
BASELINE_MEMORY_SECONDS = 3600.0
MAX_VALUES = 2000


class RobustBaseline:
    """Median/MAD of the values seen over the last ``learning_seconds``."""

    def __init__(self, learning_seconds: float, sensitivity: float, min_deviation: float = 0.0):
        self.learning_seconds = learning_seconds
        self.sensitivity = sensitivity
        self.min_deviation = abs(min_deviation)
        self.memory_seconds = max(learning_seconds, BASELINE_MEMORY_SECONDS)
        self._values: deque[tuple[float, float]] = deque(maxlen=MAX_VALUES)
        self._first: float | None = None

    def learn(self, now: float, value: float) -> None:
        if self._first is None:
            self._first = now
        self._values.append((now, value))
        while self._values and self._values[0][0] < now - self.memory_seconds:
            self._values.popleft()

    def ready(self, now: float) -> bool:
        """True once values have been learned for a whole ``learning_seconds``."""
        return (
            self._first is not None
            and now - self._first >= self.learning_seconds
            and len(self._values) >= MIN_SAMPLES
        )

    def center_and_scale(self) -> tuple[float, float]:
        values = [v for _, v in self._values]
        center = statistics.median(values)
        mad = statistics.median(abs(v - center) for v in values)
        floor = max(RELATIVE_SCALE_FLOOR * abs(center), ABSOLUTE_SCALE_FLOOR)
        return center, max(MAD_TO_SIGMA * mad, floor)

    def check(self, value: float, operator: str) -> tuple[bool, float]:
        """Whether ``value`` deviates in the ``operator`` direction, and the bound crossed."""
        center, scale = self.center_and_scale()
        reach = max(self.sensitivity * scale, self.min_deviation)
        upper, lower = center + reach, center - reach
        if operator in (">", ">="):
            return value > upper, upper
        if operator in ("<", "<="):
            return value < lower, lower
        above = value > upper
        return above or value < lower, upper if above else lower
