"""Rule lifecycle: pending → firing → resolved, for_seconds, cooldown; no sleeping."""

from __future__ import annotations

import pytest

from aga_otel.alerts.lifecycle import RuleEvaluator
from aga_otel.alerts.model import AlertState
from aga_otel.config import AlertRuleConfig


def rule(**kw) -> AlertRuleConfig:
    base = dict(name="r", metric="gate_mean", operator=">", threshold=0.5, cooldown_seconds=0)
    return AlertRuleConfig(**{**base, **kw})


def run(ev: RuleEvaluator, values, step: float = 5.0, t0: float = 0.0):
    """Feed ``values`` every ``step`` seconds; return (time, state, alert state or None)."""
    out = []
    for i, v in enumerate(values):
        a = ev.step(v, t0 + i * step)
        out.append((t0 + i * step, ev.state, a.state if a else None))
    return out


def test_fires_at_once_and_resolves():
    ev = RuleEvaluator(rule())
    trace = run(ev, [0.1, 0.9, 0.9, 0.2])
    assert [s for _, s, _ in trace] == [
        AlertState.INACTIVE, AlertState.FIRING, AlertState.FIRING, AlertState.RESOLVED,
    ]  # fmt: skip
    assert [a for _, _, a in trace] == [None, AlertState.FIRING, None, AlertState.RESOLVED]


def test_for_seconds_keeps_pending_then_fires():
    ev = RuleEvaluator(rule(for_seconds=10))
    trace = run(ev, [0.9, 0.9, 0.9, 0.9])
    assert [s for _, s, _ in trace] == [
        AlertState.PENDING, AlertState.PENDING, AlertState.FIRING, AlertState.FIRING,
    ]  # fmt: skip


def test_pending_that_clears_never_notifies():
    ev = RuleEvaluator(rule(for_seconds=10))
    trace = run(ev, [0.9, 0.1, 0.9, 0.1])
    assert all(a is None for _, _, a in trace)
    assert ev.state is AlertState.INACTIVE


def test_cooldown_holds_a_flapping_rule_pending():
    ev = RuleEvaluator(rule(cooldown_seconds=30))
    trace = run(ev, [0.9, 0.1, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9])
    # fired at 0, resolved at 5; breaching again at 10 but cooling down until 35
    fired = [t for t, _, a in trace if a is AlertState.FIRING]
    assert fired == [0.0, 35.0]
    assert trace[2][1] is AlertState.PENDING


def test_no_data_resolves_and_never_fires():
    ev = RuleEvaluator(rule(operator="<", threshold=0.5))
    trace = run(ev, [None, None, 0.1, None])
    assert [a for _, _, a in trace] == [None, None, AlertState.FIRING, AlertState.RESOLVED]


def test_alert_carries_the_documented_fields():
    r = rule(message="{name}: {metric}={value:.2f} > {threshold}", severity="critical")
    alert = RuleEvaluator(r).step(0.75, 42.0)
    assert (alert.rule_name, alert.metric, alert.value, alert.threshold) == (
        "r",
        "gate_mean",
        0.75,
        0.5,
    )
    assert (alert.severity, alert.state, alert.timestamp) == ("critical", AlertState.FIRING, 42.0)
    assert alert.message == "r: gate_mean=0.75 > 0.5"


@pytest.mark.parametrize(("op", "value", "fires"), [
    (">", 0.5, False), (">=", 0.5, True), ("<", 0.4, True), ("<=", 0.6, False), ("==", 0.5, True),
])  # fmt: skip
def test_operators(op, value, fires):
    ev = RuleEvaluator(rule(operator=op))
    assert (ev.step(value, 0.0) is not None) is fires
