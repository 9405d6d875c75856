"""The interval extremes behind 1.0's latest-value metrics, from real cumulative snapshots.

A 1.0 rule on ``gate_mean``/``entropy_mean`` fires on one breaching event; the engine reads
the largest (smallest) observation since the previous evaluation from the histogram. The
bound must never fall inside the true range (a breach would be missed): it is exact when
the SDK's running max (min) moved, else the edge of the highest (lowest) non-empty bucket.
"""

from __future__ import annotations

import pytest
from test_alert_support import Clock, Instruments

from aga_otel.alerts.signals import Derivation, evaluate, source_keys
from aga_otel.alerts.snapshot import HistogramTotals, SnapshotHistory, snapshot_from


class Stream:
    def __init__(self) -> None:
        self.inst, self.clock = Instruments(), Clock()
        self.history = SnapshotHistory(120.0, start=self.clock())

    def tick(self, *entropies: float) -> None:
        for i, v in enumerate(entropies):
            self.inst.record("entropy_value", v, layer=i % 3)
        self.clock.advance(0.5)
        self.history.add(snapshot_from(self.inst.collect(), source_keys(), self.clock()))

    def extreme(self, operator: str) -> float | None:
        view = self.history.last_interval()
        return evaluate("entropy_mean", view, operator, Derivation.EXTREME)


def test_a_new_running_extreme_is_exact():
    s = Stream()
    s.tick(1.0, 6.2, 1.1)
    assert s.extreme(">") == pytest.approx(6.2)
    assert s.extreme("<") == pytest.approx(1.0)


def test_otherwise_the_bucket_edge_bounds_it_from_outside():
    s = Stream()
    s.tick(0.1, 7.5)  # running min 0.1, max 7.5
    s.tick(5.2, 4.9)  # neither moved: buckets (4.5, 5.0] and (5.0, 5.5]
    assert 5.2 <= s.extreme(">") <= 5.5
    assert 4.5 <= s.extreme("<") <= 4.9
    s.tick(2.0)
    assert s.extreme(">") == pytest.approx(2.0)  # the bucket edge is 2.0 itself
    s.tick()
    assert s.extreme(">") is None  # no observation in the interval: no data


@pytest.mark.parametrize("seed_values", [(0.3, 7.9, 2.2), (3.3, 3.4, 3.35), (8.5, 0.05)])
def test_bounds_never_inside_the_true_range(seed_values):
    s = Stream()
    s.tick(4.0, 4.1)
    s.tick(*seed_values)
    assert s.extreme(">") >= max(seed_values)
    assert s.extreme("<") <= min(seed_values)


def test_without_sdk_min_max_the_bucket_edges_are_used():
    bounds = (1.0, 2.0, 3.0)
    old = HistogramTotals(bounds, (1, 0, 0, 0), 1, 0.5)  # min/max unknown
    new = HistogramTotals(bounds, (1, 0, 2, 0), 3, 5.5)
    span = new.minus(old)
    assert (span.min, span.max) == (2.0, 3.0)
    over = HistogramTotals(bounds, (1, 0, 2, 1), 4, 15.5).minus(new)
    assert over.max == float("inf")  # above the last bound, unknown: never understated


@pytest.mark.parametrize(("semantics", "firings"), [("1.0", 3), ("otel", 1)])
def test_cooldown_from_the_last_firing_for_1_0_rules(semantics, firings):
    from aga_otel.alerts.manager import AlertManager
    from aga_otel.config import AlertRuleConfig
    from aga_otel.status import StatusBoard

    rule = AlertRuleConfig(name="hot", metric="entropy_mean", threshold=5.0,
                           cooldown_seconds=10, semantics=semantics)  # fmt: skip
    inst, clock = Instruments(), Clock()
    mgr = AlertManager([rule], StatusBoard(), interval=0.5, clock=clock)
    for _ in range(50):  # 25 s of a breach that persists
        inst.record("entropy_value", 6.0)
        clock.advance(0.5)
        mgr.consume(inst.collect())
    fired = [a for a in mgr.history(100) if a.state.value == "firing"]
    assert len(fired) == firings  # 1.0: at 0.5 s, 10.5 s and 20.5 s
    assert all(b.timestamp - a.timestamp >= 10 for a, b in zip(fired, fired[1:]))
