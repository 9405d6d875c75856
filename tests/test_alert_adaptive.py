"""Adaptive rules on synthetic streams: quiet on clean data, fire soon after an anomaly."""

from __future__ import annotations

import random

import pytest
from test_alert_support import Clock, Instruments

from aga_otel.alerts.manager import AlertManager
from aga_otel.alerts.model import AlertState
from aga_otel.config import AlertRuleConfig
from aga_otel.status import StatusBoard

INTERVAL = 5.0
# 5 robust sigmas: on Gaussian noise about one false alarm per 10^6 evaluations (at 4, the
# config default, about one per day of 5-second evaluations; see docs/alerting.md).
SENSITIVITY = 5.0


def adaptive(metric: str, operator: str = ">", window: float = 20.0) -> AlertRuleConfig:
    return AlertRuleConfig(
        name=f"{metric}_anomaly", metric=metric, operator=operator, kind="adaptive",
        window_seconds=window, learning_seconds=300, sensitivity=SENSITIVITY, cooldown_seconds=0,
    )  # fmt: skip


def run_stream(rule, feed, seconds: float, seed: int):
    """Evaluate ``rule`` every 5 s for ``seconds``; ``feed(inst, rng, t)`` records one interval."""
    inst, clock, rng = Instruments(), Clock(start=0.0), random.Random(seed)
    mgr = AlertManager([rule], StatusBoard(), interval=INTERVAL, clock=clock)
    t = 0.0
    while t < seconds:
        feed(inst, rng, t)
        t = clock.advance(INTERVAL)
        mgr.consume(inst.collect())
    return [a for a in mgr.history(limit=10_000) if a.state is AlertState.FIRING]


def activation(anomaly_at: float | None, level: float):
    def feed(inst, rng, t):
        base = level if anomaly_at is not None and t >= anomaly_at else 0.30
        inst.set("activation_rate", base + rng.gauss(0, 0.01))

    return feed


def entropy(anomaly_at: float | None, shift: float):
    def feed(inst, rng, t):
        extra = shift if anomaly_at is not None and t >= anomaly_at else 0.0
        for _ in range(200):
            inst.record("entropy_value", rng.gammavariate(2.0, 1.0) + extra, layer=rng.randrange(8))

    return feed


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_clean_streams_stay_quiet(seed):
    assert run_stream(adaptive("activation_rate"), activation(None, 0), 3600, seed) == []
    assert run_stream(adaptive("entropy_mean"), entropy(None, 0), 1800, seed) == []


@pytest.mark.parametrize(
    ("rule", "feed"),
    [
        (adaptive("activation_rate", ">"), activation(900, 0.45)),
        (adaptive("activation_rate", "<"), activation(900, 0.15)),
        (adaptive("activation_rate", "=="), activation(900, 0.15)),
        (adaptive("entropy_mean", ">"), entropy(900, 0.6)),
    ],
    ids=["activation-up", "activation-down", "activation-either", "entropy-up"],
)
def test_injected_anomaly_fires_within_one_window(rule, feed):
    fired = run_stream(rule, feed, 1200, seed=7)
    assert fired, "the anomaly was missed"
    delay = fired[0].timestamp - 900
    # Stated delay: a step change fires within one window plus one evaluation interval.
    assert 0 < delay <= rule.window_seconds + INTERVAL
    # The reported threshold is the learned bound, near the normal level.
    assert abs(fired[0].threshold - 0.30) < 0.1 or rule.metric == "entropy_mean"


def test_wrong_direction_does_not_fire():
    assert run_stream(adaptive("activation_rate", ">"), activation(900, 0.15), 1200, 7) == []


def test_quiet_while_learning():
    rule = adaptive("activation_rate")
    wild = lambda inst, rng, t: inst.set("activation_rate", rng.random())  # noqa: E731
    fired = run_stream(rule, wild, rule.learning_seconds, seed=3)
    assert fired == []
