"""Pure span mapping (event → SpanSpec) and the forward sampler, as input → output tables."""

from __future__ import annotations

import pytest

from aga_otel.contract import Event
from aga_otel.tracing.spans import (
    ForwardSampler,
    SpanSpec,
    audit_span,
    forward_span,
    retrieval_span,
)

T = 1_700_000_000.0
T_NS = 1_700_000_000_000_000_000


def ev(type_: str, data, ts=T) -> Event:
    return Event(type_, ts, data)


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (
            {"layer_idx": 3, "results_count": 5, "injected_count": 2, "budget_remaining": 4,
             "ids": ["k1"], "scores": [0.9]},
            SpanSpec("retrieval", T_NS, T_NS,
                     {"gen_ai.operation.name": "retrieval", "aga.layer_idx": 3,
                      "aga.retrieval.results_count": 5, "aga.retrieval.injected_count": 2,
                      "aga.retrieval.budget_remaining": 4,
                      "gen_ai.retrieval.documents": '[{"id":"k1","score":0.9}]',
                      "aga.retrieval.documents_dropped": 0}),
        ),
        (
            {"layer_idx": 0, "results_count": 0, "injected_count": 0, "budget_remaining": True},
            SpanSpec("retrieval", T_NS, T_NS,
                     {"gen_ai.operation.name": "retrieval", "aga.layer_idx": 0,
                      "aga.retrieval.results_count": 0, "aga.retrieval.injected_count": 0}),
        ),
        ({"layer_idx": 3, "results_count": 1, "injected_count": 2}, None),  # injected > results
        ({"layer_idx": -1, "results_count": 1, "injected_count": 0}, None),
        ("not a dict", None),
    ],
)  # fmt: skip
def test_retrieval_span(data, expected):
    assert retrieval_span(ev("retrieval", data), max_layers=64) == expected


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (
            {"operation": "register", "success": True, "details": {"password": "x"},
             "error": None, "timestamp": T + 0.25},
            SpanSpec("aga.audit register", T_NS + 250_000_000, T_NS + 250_000_000,
                     {"aga.audit.operation": "register", "aga.audit.success": True}),
        ),
        (
            {"operation": "rm -rf /; DROP TABLE", "success": False, "error": "boom"},
            SpanSpec("aga.audit other", T_NS, T_NS,
                     {"aga.audit.operation": "other", "aga.audit.success": False}, "boom"),
        ),
        (
            {"operation": "clear", "success": False, "error": None, "timestamp": float("nan")},
            SpanSpec("aga.audit clear", T_NS, T_NS,
                     {"aga.audit.operation": "clear", "aga.audit.success": False},
                     "operation failed"),
        ),
        ({"operation": 7, "success": True}, None),
        ({"operation": "clear"}, None),
    ],
)  # fmt: skip
def test_audit_span(data, expected):
    assert audit_span(ev("audit", data)) == expected


def test_audit_error_text_is_truncated_and_made_safe():
    spec = audit_span(ev("audit", {"operation": "load_from", "success": False,
                                   "error": "\ud800bad " + "e" * 10_000}))  # fmt: skip
    assert spec.error.startswith("\\ud800bad") and len(spec.error) < 300


def test_forward_span_ends_at_the_event_and_lasts_its_latency():
    data = {"aga_applied": True, "gate_mean": 0.5, "entropy_mean": 2.0, "layer_idx": 7,
            "latency_us": 123.0}  # fmt: skip
    assert forward_span(ev("forward", data), 32) == SpanSpec(
        "aga.forward", T_NS - 123_000, T_NS,
        {"aga.layer_idx": 7, "aga.applied": True, "aga.gate_mean": 0.5, "aga.entropy_mean": 2.0},
    )  # fmt: skip
    assert forward_span(ev("forward", {**data, "latency_us": -1}), 32) is None
    assert forward_span(ev("forward", {**data, "layer_idx": 32}), 32) is None


@pytest.mark.parametrize("ts", [None, float("nan"), -5.0, "yesterday", True])
def test_unusable_event_time_falls_back_to_now(ts):
    import time

    before = time.time_ns()
    spec = retrieval_span(ev("retrieval", {"layer_idx": 1, "results_count": 0,
                                           "injected_count": 0}, ts), 8)  # fmt: skip
    assert before <= spec.start_ns == spec.end_ns <= time.time_ns()


@pytest.mark.parametrize(("rate", "per_layer"), [(0.0, 0), (1.0, 100), (0.1, 10), (0.25, 25),
                                                 (1 / 3, 34), (0.01, 1)])  # fmt: skip
def test_forward_sampler_takes_exactly_rate_of_each_layer(rate, per_layer):
    sampler = ForwardSampler(rate)
    picked: dict[int, list[int]] = {layer: [] for layer in range(32)}
    for step in range(100):
        for layer in range(32):  # round-robin, as aga-core emits them
            if sampler.sample(layer):
                picked[layer].append(step)
    assert all(len(steps) == per_layer for steps in picked.values())
    if rate > 0:
        assert all(steps[0] == 0 for steps in picked.values())  # the first is always taken
        gaps = {b - a for steps in picked.values() for a, b in zip(steps, steps[1:])}
        assert gaps <= {round(1 / rate), int(1 / rate), int(1 / rate) + 1}  # evenly spaced
