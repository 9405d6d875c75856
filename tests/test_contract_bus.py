"""The shipped EventBus follows aga-core 4.4's contract."""

from aga_otel.contract import Event, EventBus, SimulatedPlugin, WorkloadSimulator


def test_emit_calls_type_handlers_then_wildcard_on_the_emitting_thread():
    bus, calls = EventBus(), []
    bus.subscribe("*", lambda e: calls.append(("*", e.type)))
    bus.subscribe("forward", lambda e: calls.append(("forward", e.type)))
    bus.emit("forward", {"x": 1})
    bus.emit("audit", {})
    assert calls == [("forward", "forward"), ("*", "forward"), ("*", "audit")]


def test_event_fields_and_handler_errors_are_swallowed():
    bus, seen = EventBus(), []

    def boom(event):
        raise RuntimeError("handler bug")

    bus.subscribe("forward", boom)
    bus.subscribe("forward", seen.append)
    bus.emit("forward", {"layer_idx": 1})
    (event,) = seen
    assert isinstance(event, Event)
    assert event.type == "forward" and event.data == {"layer_idx": 1}
    assert event.source == "aga-core" and event.timestamp > 0


def test_unsubscribe_by_subscriber_id_removes_every_type_and_by_handler_identity():
    bus, seen = EventBus(), []
    bus.subscribe("forward", seen.append, subscriber_id="me")
    bus.subscribe("*", seen.append, subscriber_id="me")
    other = []
    bus.subscribe("audit", other.append)
    bus.unsubscribe("ignored", subscriber_id="me")
    bus.emit("forward", {})
    assert seen == []
    bus.unsubscribe("audit", handler=other.append.__self__.append)
    bus.emit("audit", {})
    assert other == []  # bound methods compare equal


def test_disabled_bus_query_and_stats():
    bus = EventBus(buffer_size=3)
    bus.enabled = False
    bus.emit("forward", {})
    assert bus.get_stats()["total_emitted"] == 0
    bus.enabled = True
    for i in range(5):
        bus.emit("forward" if i % 2 else "audit", {"i": i})
    stats = bus.get_stats()
    assert stats["total_emitted"] == 5 and stats["buffer_size"] == 3
    assert stats["buffer_capacity"] == 3
    rows = bus.query("audit", limit=10)
    assert [r["data"]["i"] for r in rows] == [4, 2]
    assert set(rows[0]) == {"type", "timestamp", "data"}
    assert bus.query(since=rows[0]["timestamp"] + 1) == []


def test_simulator_is_deterministic_for_a_seed():
    def run(seed):
        plugin = SimulatedPlugin()
        events = []
        plugin.event_bus.subscribe(
            "*",
            lambda e: events.append(
                (e.type, repr(sorted((k, v) for k, v in e.data.items() if k != "timestamp")))
            ),
        )
        sim = WorkloadSimulator(plugin, seed=seed)
        sim.start()
        sim.run_steps(50)
        return events

    assert run(3) == run(3)
    assert run(3) != run(4)


def test_simulated_plugin_introspection_surface():
    plugin = SimulatedPlugin()
    sim = WorkloadSimulator(plugin, seed=1)
    sim.start()
    stats = plugin.get_store_stats()
    assert set(stats) == {
        "count",
        "max_slots",
        "utilization",
        "free_slots",
        "pinned_count",
        "unpinned_count",
        "evictable_count",
        "vram_bytes",
    }
    diag = plugin.get_diagnostics()
    assert diag["attached"] and plugin.is_attached
    assert "slot_change_rate" in diag["slot_governance"]
    assert plugin.retriever.get_stats()["type"] == "simulated"
    assert not any(p.isnan().any() for p in plugin.gate_system.parameters())
