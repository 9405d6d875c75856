"""The live page's first view shows the last minutes (issue 24): points are sampled on the
bridge's worker while nobody watches, only while events arrive, and kept within bounds."""

from __future__ import annotations

import json
import time

from conftest import simulate, wait_for
from test_dashboard_server import Stream, dash_config, dashboard_threads

from aga_otel.live import History


def burst(plugin, stack, bursts: int, gap: float) -> None:
    """Short bursts of events with pauses, so the worker hands several batches over."""
    for i in range(bursts):
        simulate(plugin, steps=3, layers=3, seed=i)
        stack.bridge.sync(1.0)
        time.sleep(gap)


def test_a_first_view_shows_what_happened_while_nobody_watched(plugin, make_stack):
    stack = make_stack(plugin.event_bus, dash_config())
    sampler = stack.dashboard_history
    sampler.every = 0.2  # 5 s in production; the test cannot wait minutes
    burst(plugin, stack, bursts=12, gap=0.25)
    assert dashboard_threads() == 0  # nobody watched: no dashboard loop ran
    assert sampler.samples >= 3 and sampler.failures == 0

    idle = sampler.samples
    time.sleep(1.0)  # no events: nothing is sampled (and no timer exists to do it)
    assert sampler.samples == idle

    stream = Stream(stack.health.port)
    try:
        kind, data = stream.event()
        first = stream.update()
    finally:
        stream.close()
    assert kind == "history"
    points = json.loads(data)["points"]
    assert 3 <= len(points) <= sampler.samples  # each sample is one point (none from a page)
    times = [p["t"] for p in points]
    assert times == sorted(times) and len(set(times)) == len(times)
    assert times[-1] <= first["time"]
    with_rates = [p for p in points if p["forward_per_s"] is not None]
    assert with_rates, points  # points past the first have a window, hence rates
    assert all(p["forward_per_s"] > 0 for p in with_rates)  # every sample follows events
    assert all(set(p["layers"]) <= {"0", "1", "2"} for p in points)
    assert {"0", "1", "2"} == set(with_rates[-1]["layers"])
    assert all(0 <= p["activation"] <= 1 for p in with_rates if p["activation"] is not None)
    # The page's own loop takes over (a point a second): the sampler, whose period is
    # longer than the loop's (5 s in production), stays out while someone watches.
    sampler.every = 2.0
    watching = Stream(stack.health.port)
    try:
        watching.event()
        watching.update()
        before = sampler.samples
        burst(plugin, stack, bursts=12, gap=0.25)  # > 2 s of events
        watching.update()
        assert sampler.samples == before
    finally:
        watching.close()
    assert wait_for(lambda: dashboard_threads() == 0, 5.0)


def test_the_history_is_bounded_in_points_and_in_time():
    now = [1000.0]
    history = History(size=50, seconds=300.0, clock=lambda: now[0])
    for i in range(200):
        history.add({"t": 1000.0 - 199 + i, "forward_per_s": float(i)})
    history.add({"t": 1000.0, "forward_per_s": -1.0})  # not newer than the newest: ignored
    history.add({"t": None})  # a snapshot without a time: ignored
    assert len(history) == 50
    points = json.loads(history.encoded())["points"]
    assert [p["t"] for p in points] == [951.0 + i for i in range(50)]
    assert points[-1]["forward_per_s"] == 199.0
    now[0] = 1289.5  # later: only the last 300 s (from 989.5 on) are sent and kept
    assert [p["t"] for p in json.loads(history.encoded())["points"]] == [
        990.0 + i for i in range(11)
    ]
    assert len(history) == 11
