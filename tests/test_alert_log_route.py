"""Alerts reach the log pipeline through the engine's callbacks: with two stacks in one
process each stack writes each of its own alert transitions (firing and resolved) once."""

from __future__ import annotations

import json
import time

from conftest import local_config

from aga_otel import AlertRuleConfig


def entropy(stack_bus, value: float, n: int) -> None:
    for i in range(n):
        stack_bus.emit("forward", {"aga_applied": True, "gate_mean": 0.5, "entropy_mean": value,
                                   "layer_idx": i % 2, "latency_us": 10.0})  # fmt: skip


def alert_lines(path) -> list[dict]:
    if not path.exists():  # nothing was ever written
        return []
    lines = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return [line for line in lines if line["event"] == "aga.alert"]


def test_two_stacks_each_log_their_own_alerts_once(make_stack, tmp_path):
    from aga_otel.contract import SimulatedPlugin

    rule = AlertRuleConfig(name="hot", metric="entropy_mean", operator=">", threshold=2.0,
                           window_seconds=600, severity="critical")  # fmt: skip
    stacks, plugins = [], []
    for i in range(2):
        plugin = SimulatedPlugin()
        cfg = local_config(
            log_enabled=True, log_file=str(tmp_path / f"s{i}.jsonl"), log_stderr=False,
            alert_enabled=True, alert_default_rules=False, alert_rules=[rule],
            alert_evaluation_interval=3600,  # evaluated when the test flushes
        )  # fmt: skip
        stacks.append(make_stack(plugin.event_bus, cfg))
        plugins.append(plugin)
    seen = [[], []]
    for stack, got in zip(stacks, seen):
        stack.alert_manager.add_callback(got.append)
    entropy(plugins[0].event_bus, 5.0, 20)  # only the first stack's metric breaches
    stacks[0].force_flush()
    stacks[1].force_flush()
    entropy(plugins[0].event_bus, 0.0, 2000)  # the window's mean falls back under 2.0
    stacks[0].force_flush()
    assert [a.state.value for a in seen[0]] == ["firing", "resolved"]
    assert seen[1] == []
    for stack in stacks:
        stack.shutdown(timeout=5)

    first = alert_lines(tmp_path / "s0.jsonl")
    assert [r["attributes"]["aga.alert.state"] for r in first] == ["firing", "resolved"]
    assert {r["attributes"]["aga.alert.rule"] for r in first} == {"hot"}
    assert first[0]["attributes"]["aga.alert.severity"] == "critical"
    assert first[0]["level"] == "WARN"  # alert_log_level's default, WARNING
    assert "hot firing" in first[0]["message"]
    assert alert_lines(tmp_path / "s1.jsonl") == []  # not the other stack's alerts


def test_the_1_0_face_still_gets_firings_only():
    """aga-otel's callbacks see resolutions too; the 1.0 face passes on firings only."""
    from test_compat_alerts import Collected, forward

    from aga_observability import AlertManager, AlertRule
    from aga_otel.contract import EventBus

    bus = EventBus()
    alerts = AlertManager(rules=[AlertRule(name="hot", metric="entropy_mean", threshold=5.0,
                                           cooldown_seconds=0)], use_defaults=False)  # fmt: skip
    try:
        got = Collected()
        alerts.add_callback(got)
        alerts.subscribe(bus)
        engine = alerts._stack.alert_manager  # the aga-otel engine behind the face
        states: list[str] = []
        engine.add_callback(lambda a: states.append(a.state.value))
        deadline = time.monotonic() + 20
        while "resolved" not in states and time.monotonic() < deadline:
            forward(bus, entropy=9.0 if "firing" not in states else 1.0)
            time.sleep(0.05)
        assert states[0] == "firing" and states[-1] == "resolved", states
        # Every firing (1.0 re-fires each interval with no cooldown), no resolution.
        assert len(got.events) == states.count("firing")
        assert {(e.rule_name, e.resolved) for e in got.events} == {("hot", False)}
    finally:
        alerts.shutdown()
