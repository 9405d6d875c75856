"""The activation window counts forward events per second of *event* time.

``ForwardAggregator.add`` keeps the current second's bucket at hand while events arrive in
time order; these streams break that order and the types on purpose, and the result must
equal the plain definition: each well-formed event counted in ``int(timestamp)``, or in the
batch's own second when its timestamp is not a usable Unix time.
"""

from __future__ import annotations

import math
import random
import time
from types import SimpleNamespace

import pytest

from aga_otel.metrics.forward import ForwardAggregator


def event(ts, applied=True, layer=0):
    data = {"layer_idx": layer, "aga_applied": applied, "gate_mean": 0.5,
            "entropy_mean": 1.0, "latency_us": 10.0}  # fmt: skip
    return SimpleNamespace(type="forward", timestamp=ts, data=data)


def expected(events, now_sec):
    out: dict[int, list[int]] = {}
    for ev in events:
        ts = ev.timestamp
        ok = type(ts) in (float, int) and 0 < ts < 1e11
        b = out.setdefault(int(ts) if ok else now_sec, [0, 0])
        b[0] += ev.data["aga_applied"]
        b[1] += 1
    return out


def streams():
    rng = random.Random(5)
    base = 1_764_000_000.0
    yield "in order", [event(base + i * 0.01, i % 3 == 0) for i in range(500)]
    yield "shuffled", rng.sample([event(base + i * 0.37, i % 2 == 0) for i in range(300)], 300)
    yield "on the boundaries", [event(base + k, True) for k in (0, 1, 1, 2, 0)] + [
        event(math.nextafter(base + 1, 0), False)]  # fmt: skip
    odd = [None, float("nan"), float("inf"), -1.0, 0.0, 1e11, "1764000000", 1_764_000_003,
           True, base + 0.5, base + 0.6]  # fmt: skip
    yield "odd timestamps", [event(ts, i % 2 == 0) for i, ts in enumerate(odd * 3)]


@pytest.mark.parametrize("name,events", list(streams()), ids=[n for n, _ in streams()])
def test_per_second_counts_equal_the_definition(name, events):
    t0 = int(time.time())  # the batch's own second is read inside add(): bracket it
    malformed, per_second = ForwardAggregator().add(events)
    t1 = int(time.time())
    assert malformed == 0
    assert per_second in (expected(events, t0), expected(events, t1))
