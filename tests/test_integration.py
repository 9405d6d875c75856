"""Zero-code integration: aga-core's hook, one stack per process, never raising."""

from __future__ import annotations

import gc
import logging
import os
import subprocess
import sys
import threading
import weakref

import pytest
from otlp_receiver import GrpcReceiver
from test_integration_support import AGAPluginDouble, aga_config, isolated, scrape  # noqa: F401

from aga_otel import semconv as sc
from aga_otel.contract import EventBus, SimulatedPlugin, WorkloadProfile, WorkloadSimulator
from aga_otel.integration import (
    bind_plugin,
    discover_plugin,
    get_global_stack,
    setup_observability,
    shutdown_observability,
)

pytestmark = pytest.mark.usefixtures("isolated")
LOGGER = "aga_otel.integration"


def run(plugin, steps: int = 20) -> WorkloadSimulator:
    sim = WorkloadSimulator(plugin, WorkloadProfile(layers=2), seed=3)
    sim.start()
    sim.run_steps(steps)
    return sim


def lines(caplog) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == LOGGER]


def test_aga_core_sequence_leads_to_a_running_stack(caplog):
    caplog.set_level(logging.INFO, logger=LOGGER)
    plugin = AGAPluginDouble(aga_config())
    stack = get_global_stack()
    assert stack is not None and stack.ready
    assert len(lines(caplog)) == 1 and "observability on" in lines(caplog)[0].getMessage()
    sim = run(plugin)
    stack.force_flush()
    samples = scrape(stack.prometheus.port)
    forward = sum(s.value for s in samples["aga_forward_total"])
    assert forward == sum(sim.totals.forward.values())
    # The plugin was found as the caller's ``self``: its gauges are real.
    assert samples["aga_knowledge_count"][0].value == plugin.get_store_stats()["count"]


def test_agaconfig_port_and_fields_are_mapped():
    AGAPluginDouble(aga_config(log_format="text", audit_retention_days=7))
    cfg = get_global_stack().config
    assert (cfg.prometheus_port, cfg.log_format, cfg.audit_retention_days) == (0, "text", 7)


def test_setup_twice_returns_the_same_stack_and_subscribes_once():
    plugin = SimulatedPlugin(aga_config())
    first = setup_observability(plugin.event_bus, plugin.config)
    second = setup_observability(plugin.event_bus, plugin.config)
    assert first is second is get_global_stack()
    plugin.event_bus.emit("forward", {"aga_applied": True, "gate_mean": 0.5,
                                      "entropy_mean": 1.0, "layer_idx": 0, "latency_us": 10.0})  # fmt: skip
    first.force_flush()
    assert first.get_stats()["bridge"]["received"] == 1  # not twice


def test_second_plugin_joins_first_configuration_wins(caplog):
    first = AGAPluginDouble(aga_config())
    caplog.set_level(logging.INFO, logger=LOGGER)
    second = AGAPluginDouble(aga_config(log_format="text"))
    stack = get_global_stack()
    warnings = [r for r in lines(caplog) if r.levelno == logging.WARNING]
    assert len(lines(caplog)) == 1 and len(warnings) == 1
    assert "log_format: 'json' -> 'text'" in warnings[0].getMessage()
    assert stack.config.log_format == "json"
    a, b = run(first), run(second)
    stack.force_flush()
    samples = scrape(stack.prometheus.port)
    total = sum(a.totals.forward.values()) + sum(b.totals.forward.values())
    assert sum(s.value for s in samples["aga_forward_total"]) == total


def test_identical_second_configuration_is_no_warning(caplog):
    AGAPluginDouble(aga_config())
    caplog.set_level(logging.INFO, logger=LOGGER)
    AGAPluginDouble(aga_config())
    assert [r.levelno for r in lines(caplog)] == [logging.INFO]


@pytest.mark.parametrize(
    ("env", "config", "named"),
    [
        ({"OTEL_EXPORTER_PROMETHEUS_PORT": "nine"}, {}, "OTEL_EXPORTER_PROMETHEUS_PORT"),
        ({}, {"log_format": "xml"}, "log_format"),
        ({}, {"prometheus_port": -5}, "prometheus_port"),
    ],
)
def test_broken_configuration_returns_none_and_logs_why(monkeypatch, caplog, env, config, named):
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    caplog.set_level(logging.INFO, logger=LOGGER)
    plugin = AGAPluginDouble(aga_config(**config))  # aga-core's constructor is unharmed
    assert get_global_stack() is None
    assert setup_observability(plugin.event_bus, plugin.config) is None
    records = lines(caplog)
    assert len(records) == 2  # one line per call
    assert all(r.levelno == logging.ERROR and named in r.getMessage() for r in records)
    assert "stayed off" in records[0].getMessage()


def test_disabled_stays_off_with_one_line(monkeypatch, caplog):
    caplog.set_level(logging.INFO, logger=LOGGER)
    bus = EventBus()
    assert setup_observability(bus, aga_config(observability_enabled=False)) is None
    monkeypatch.setenv("OTEL_SDK_DISABLED", "true")
    assert setup_observability(bus, aga_config()) is None
    assert [("stayed off" in r.getMessage()) for r in lines(caplog)] == [True, True]
    assert bus.get_stats()["subscribers"] == {}


class _ExplodingBus(EventBus):
    def subscribe(self, *args, **kwargs):
        raise RuntimeError("bus is broken")


def test_never_raises_into_aga_core(caplog):
    caplog.set_level(logging.INFO, logger=LOGGER)
    assert setup_observability(None) is None
    assert setup_observability(_ExplodingBus(), aga_config()) is None
    assert "RuntimeError: bus is broken" in lines(caplog)[-1].getMessage()
    assert get_global_stack() is None
    # Nothing was left bound: the same port-0 setup works right after.
    assert setup_observability(EventBus(), aga_config()) is not None


def test_shutdown_is_idempotent_and_setup_works_again():
    bus = EventBus()
    first = setup_observability(bus, aga_config())
    shutdown_observability()
    shutdown_observability()
    assert get_global_stack() is None and first.get_stats()["running"] is False
    assert bus.get_stats()["subscribers"] == {}
    second = setup_observability(bus, aga_config())
    assert second is not first and second.get_stats()["running"]


def test_plugin_gauges_report_nothing_until_bound():
    plugin = SimulatedPlugin(aga_config())
    plugin.add_knowledge("k1")
    stack = setup_observability(plugin.event_bus, plugin.config)  # not from the plugin
    assert stack.plugin is None
    assert "aga_knowledge_count" not in scrape(stack.prometheus.port)
    assert bind_plugin(plugin) is True
    assert scrape(stack.prometheus.port)["aga_knowledge_count"][0].value == 1


def test_bind_plugin_without_stack_is_false():
    assert bind_plugin(SimulatedPlugin()) is False


def test_bind_plugin_subscribes_a_bus_built_before_setup():
    stack = setup_observability(EventBus(), aga_config())
    plugin = SimulatedPlugin()
    bind_plugin(plugin)
    sim = run(plugin, steps=5)
    stack.force_flush()
    assert stack.get_stats()["bridge"]["received"] == sim.totals.events


def test_discovered_plugin_is_bound_weakly():
    plugin = AGAPluginDouble(aga_config())
    ref = weakref.ref(plugin)
    stack = get_global_stack()
    assert stack.get_stats()["plugin_bound"]
    del plugin
    gc.collect()
    assert ref() is None  # observability did not keep the plugin alive
    assert "aga_knowledge_count" not in scrape(stack.prometheus.port)  # fails open


def test_discovery_can_be_turned_off():
    class P(SimulatedPlugin):
        def __init__(self):
            super().__init__(aga_config())
            setup_observability(self.event_bus, self.config, discover=False)

    P()
    assert get_global_stack().plugin is None


def test_discover_plugin_finds_the_one_owner():
    plugin = SimulatedPlugin()
    assert discover_plugin(plugin.event_bus) is plugin
    assert discover_plugin(EventBus()) is None
    twin = SimulatedPlugin(event_bus=plugin.event_bus)  # two owners: ambiguous
    assert discover_plugin(plugin.event_bus) is None
    del twin


def test_concurrent_setups_share_one_stack():
    buses = [EventBus() for _ in range(8)]
    results: list = [None] * len(buses)
    barrier = threading.Barrier(len(buses))

    def worker(i: int) -> None:
        barrier.wait()
        results[i] = setup_observability(buses[i], aga_config())

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(len(buses))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results[0] is not None and all(r is results[0] for r in results)
    for bus in buses:
        bus.emit("audit", {"operation": "clear", "details": {}, "success": True,
                           "error": None, "timestamp": 0.0})  # fmt: skip
    results[0].force_flush()
    assert results[0].get_stats()["bridge"]["received"] == len(buses)


_EXIT_SCRIPT = """
from aga_observability import setup_observability
from aga_otel.contract import SimulatedPlugin, WorkloadProfile, WorkloadSimulator
plugin = SimulatedPlugin()
assert setup_observability(plugin.event_bus, plugin.config) is not None
sim = WorkloadSimulator(plugin, WorkloadProfile(layers=2), seed=1)
sim.start()
sim.run_steps(10)
print(sum(sim.totals.forward.values()))
# no shutdown: the atexit handler must flush
"""


def test_interpreter_exit_flushes_and_shuts_down():
    with GrpcReceiver() as receiver:
        env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
        env.update({
            "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint,
            "OTEL_METRIC_EXPORT_INTERVAL": "600000",  # only the exit flush can deliver
            "OTEL_EXPORTER_PROMETHEUS_PORT": "0",
        })  # fmt: skip
        out = subprocess.run([sys.executable, "-c", _EXIT_SCRIPT], env=env,
                             capture_output=True, text=True, timeout=60)  # fmt: skip
        assert out.returncode == 0, out.stderr
        receiver.received.wait_for("metrics")
        points = receiver.received.metric_points(sc.metric("forward").name)
        assert sum(p.as_int for p in points) == int(out.stdout.split()[-1])
