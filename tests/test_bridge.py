"""The bridge: hand-over on the emitting thread, worker, drops, bad input, threads."""

import math
import threading

from conftest import local_config, simulate, wait_for

from aga_otel import semconv as sc
from aga_otel.bridge import EventBridge
from aga_otel.contract import Event, EventBus


def snapshot_values(stack, name):
    return {
        tuple(sorted(p.attributes.items())): p.value
        for rm in stack.reader.snapshot().resource_metrics
        for sm in rm.scope_metrics
        for m in sm.metrics
        if m.name == name
        for p in m.data.data_points
    }


def test_bad_events_are_counted_never_raised(make_stack):
    bus = EventBus()
    stack = make_stack(bus)
    raised = []
    bus.subscribe("*", lambda e: None)  # a neighbour subscriber keeps working too
    good = {
        "aga_applied": True,
        "gate_mean": 0.4,
        "entropy_mean": 1.0,
        "layer_idx": 0,
        "latency_us": 10.0,
    }
    bad = [
        ("forward", {}),
        ("forward", {**good, "gate_mean": math.nan}),
        ("forward", {**good, "latency_us": math.inf}),
        ("forward", {**good, "latency_us": -5.0}),
        ("forward", {**good, "layer_idx": 10**12}),
        ("forward", {**good, "aga_applied": "maybe"}),
        ("forward", None),
        ("forward", ["not", "a", "dict"]),
        ("retrieval", {"layer_idx": 0, "results_count": "3", "injected_count": 1}),
        ("audit", {"operation": None, "success": True}),
        ("audit", "x" * 1_000_000),
    ]
    try:
        for etype, data in bad:
            bus.emit(etype, data)
        bus.emit("model_loaded", {"anything": 1})
        bus.emit("forward", good)
    except Exception as exc:  # pragma: no cover - the point of the test
        raised.append(exc)
    assert not raised
    stack.force_flush()
    stats = stack.get_stats()["bridge"]
    assert stats["dropped"] == {
        **dict.fromkeys(sc.DROP_REASONS, 0),
        "malformed": len(bad),
        "unknown_type": 1,
    }
    assert stats["received"] == len(bad) + 2
    dropped = snapshot_values(stack, "aga_otel.events.dropped")
    assert dropped[(("reason", "malformed"),)] == len(bad)
    assert dropped[(("reason", "unknown_type"),)] == 1
    forward = snapshot_values(stack, "aga.forward")
    assert forward == {(("applied", "true"), ("layer", "0")): 1}


def test_handler_never_raises_even_on_objects_that_are_not_events():
    class HostileType:
        @property
        def type(self):
            raise RuntimeError("CUDA error")

    bridge = EventBridge([], queue_size=2)
    things = (None, object(), 42, HostileType(), *(Event("forward", 0.0, {}) for _ in range(4)))
    for thing in things:
        bridge.handle(thing)
        bridge.handle_traced(thing)
    # Untyped things go to the small lane (the worker counts them); forward fills its own.
    assert bridge.stats()["queue_depth"] == 8 + 2 and bridge.dropped_queue_full == 6


def test_full_queue_drops_and_counts():
    class Slow:
        name = "slow"

        def __init__(self):
            self.gate = threading.Event()
            self.seen = 0

        def handle_batch(self, events):
            self.gate.wait(10)
            self.seen += len(events)

        def shutdown(self, timeout):
            pass

    sink = Slow()
    bridge = EventBridge([sink], queue_size=100)
    bus = EventBus()
    bridge.start()
    bridge.subscribe(bus)
    bus.emit("forward", {})  # the worker takes it and blocks in the sink
    assert wait_for(lambda: bridge.queue_depth == 0, 10.0)  # taken (a deadline, not a spin)
    for _ in range(150):
        bus.emit("forward", {})
    assert bridge.dropped_queue_full == 50 and bridge.queue_depth == 100
    sink.gate.set()
    assert bridge.stop(5)
    assert sink.seen == 101
    stats = bridge.stats()
    assert stats["received"] == 151 and stats["dropped"]["queue_full"] == 50


def test_a_failing_sink_does_not_stop_the_others():
    class Broken:
        name = "broken"

        def handle_batch(self, events):
            raise ValueError("sink bug")

        def shutdown(self, timeout):
            pass

    class Counting(Broken):
        name = "counting"
        n = 0

        def handle_batch(self, events):
            self.n += len(events)

    counting = Counting()
    bridge = EventBridge([Broken(), counting])
    bus = EventBus()
    bridge.start()
    bridge.subscribe(bus)
    for _ in range(10):
        bus.emit("audit", {})
    assert bridge.drain(5)
    assert counting.n == 10
    assert "broken" in bridge.status.get("bridge").detail
    bridge.stop(1)


def test_eight_threads_emitting_at_once_give_exact_totals(make_stack):
    bus = EventBus(buffer_size=16)
    stack = make_stack(bus, local_config(queue_size=1_000_000))
    per_thread, threads = 5000, 8
    barrier = threading.Barrier(threads)

    def emit(tid):
        barrier.wait()
        for i in range(per_thread):
            bus.emit(
                "forward",
                {
                    "aga_applied": i % 2 == 0,
                    "gate_mean": 0.5,
                    "entropy_mean": 1.0,
                    "layer_idx": tid,
                    "latency_us": 5.0,
                },
            )

    workers = [threading.Thread(target=emit, args=(t,)) for t in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    assert stack.force_flush(30)
    forward = snapshot_values(stack, "aga.forward")
    assert sum(forward.values()) == per_thread * threads
    for tid in range(threads):
        assert forward[(("applied", "true"), ("layer", str(tid)))] == per_thread // 2
    received = snapshot_values(stack, "aga_otel.events.received")
    assert received[()] == per_thread * threads


def test_shutdown_unsubscribes_and_flushes(plugin, make_stack):
    stack = make_stack(plugin.event_bus)
    assert plugin.event_bus.get_stats()["subscribers"] == {"*": 1}
    simulate(plugin, steps=30)
    stack.shutdown()
    assert plugin.event_bus.get_stats()["subscribers"] == {}
    assert stack.get_stats()["bridge"]["queue_depth"] == 0
    plugin.event_bus.emit("forward", {})  # no handler left: nothing to break
    stack.shutdown()  # idempotent
