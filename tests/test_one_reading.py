"""Parse each event once: metrics, log records and spans take the same accept/reject
decision on every edge value, because all of them read values with mapping's helpers."""

from __future__ import annotations

import math

import pytest
from conftest import local_config
from otlp_receiver import HttpReceiver
from test_metrics_equality import Broken, Numpyish

from aga_otel import mapping
from aga_otel.logs import records
from aga_otel.tracing import spans

# (value, accepted as gate_mean, accepted as results_count)
EDGES = [
    (True, False, False),
    (math.nan, False, False),
    (math.inf, False, False),
    (2**64, False, False),
    ("3", False, False),
    (Numpyish(0.5), True, False),
    (Broken(), False, False),
    (0.5, True, False),
    (3, True, True),
    (mapping.MAX_COUNT, False, True),  # a count, but no gate is that large
]


def forward(gate) -> dict:
    return {"layer_idx": 0, "aga_applied": True, "gate_mean": gate, "entropy_mean": 1.0,
            "latency_us": 10.0}  # fmt: skip


def retrieval(results) -> dict:
    return {"layer_idx": 0, "results_count": results, "injected_count": 0}


class Event:
    def __init__(self, etype: str, data: dict) -> None:
        self.type, self.data, self.timestamp, self.source = etype, data, 1.7e9, "test"


@pytest.mark.parametrize(("value", "gate_ok", "count_ok"), EDGES, ids=repr)
def test_each_reader_takes_the_same_decision(value, gate_ok, count_ok):
    for data, ok, etype in ((forward(value), gate_ok, "forward"),
                            (retrieval(value), count_ok, "retrieval")):  # fmt: skip
        parse = mapping.parse_forward if etype == "forward" else mapping.parse_retrieval
        assert (parse(data, 8) is not None) is ok
        assert records.build(Event(etype, data), records.INFO, max_layers=8).malformed is not ok
        span = (spans.forward_span if etype == "forward" else spans.retrieval_span)(
            Event(etype, data), 8
        )
        assert (span is not None) is ok


def test_the_full_stack_counts_the_same_events_malformed_in_every_sink(make_stack, tmp_path):
    from aga_otel.contract import SimulatedPlugin

    plugin = SimulatedPlugin()
    with HttpReceiver() as receiver:
        stack = make_stack(plugin.event_bus, local_config(
            log_enabled=True, log_level="DEBUG", log_file=str(tmp_path / "aga.jsonl"),
            log_stderr=False, tracing_enabled=True, trace_forward_sample_rate=1.0,
            otlp_endpoint=receiver.endpoint, otlp_protocol="http/protobuf",
            otlp_metrics_enabled=False,
        ))  # fmt: skip
        for value, gate_ok, count_ok in EDGES:
            before = malformed(stack)
            plugin.event_bus.emit("forward", forward(value))
            plugin.event_bus.emit("retrieval", retrieval(value))
            assert stack.force_flush()
            rejected = (not gate_ok) + (not count_ok)
            after = malformed(stack)
            assert after == {k: v + rejected for k, v in before.items()}, value
        total = sum(1 - ok for _, *oks in EDGES for ok in oks)
        assert malformed(stack) == {"metrics": total, "logs": total, "traces": total}


def malformed(stack) -> dict[str, int]:
    stats = stack.get_stats()
    return {
        "metrics": stats["bridge"]["dropped"]["malformed"],
        "logs": stats["logs"]["malformed"],
        "traces": stats["traces"]["malformed"],
    }


@pytest.mark.parametrize(("value", "gate_ok", "count_ok"), EDGES, ids=repr)
def test_plugin_gauges_read_values_as_the_events_are_read(value, gate_ok, count_ok):
    """A plugin's store stats go through the same reading (no bounds: a gauge's value)."""
    from aga_otel.metrics.gauges import PluginReadings

    class Plugin:
        def get_store_stats(self) -> dict:
            return {"utilization": value}

    read = PluginReadings(lambda: Plugin()).store("utilization")
    assert (read is not None) is (mapping.number(value) is not None)
    assert (read is not None) is (gate_ok or value in (2**64, mapping.MAX_COUNT))
