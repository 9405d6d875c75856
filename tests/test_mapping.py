"""Pure event → sample mapping, input → output tables."""

import math

import pytest

from aga_otel.mapping import (
    AuditSample,
    ForwardSample,
    RetrievalSample,
    operation_label,
    parse_audit,
    parse_forward,
    parse_retrieval,
)

GOOD = {
    "aga_applied": True,
    "gate_mean": 0.5,
    "entropy_mean": 2.0,
    "layer_idx": 3,
    "latency_us": 150.0,
}


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({}, ForwardSample(3, True, 0.5, 2.0, 150e-6)),
        ({"aga_applied": 0}, ForwardSample(3, False, 0.5, 2.0, 150e-6)),
        ({"latency_us": 0}, ForwardSample(3, True, 0.5, 2.0, 0.0)),
        ({"aga_applied": "yes"}, None),
        ({"gate_mean": math.nan}, None),
        ({"entropy_mean": math.inf}, None),
        ({"latency_us": -1.0}, None),
        ({"latency_us": "fast"}, None),
        ({"layer_idx": 10**9}, None),
        ({"layer_idx": -1}, None),
        ({"layer_idx": 2.0}, None),
        ({"layer_idx": True}, None),
        ({"gate_mean": None}, None),
    ],
)
def test_parse_forward(change, expected):
    got = parse_forward({**GOOD, **change}, max_layers=1024)
    if expected is None:
        assert got is None
    else:
        assert got == pytest.approx(expected)


@pytest.mark.parametrize("data", [None, [], "forward", 42, {"layer_idx": 1}])
def test_parse_forward_rejects_non_dicts_and_missing_fields(data):
    assert parse_forward(data, 1024) is None


def test_parse_retrieval_keeps_only_valid_scores():
    data = {
        "layer_idx": 2,
        "results_count": 5,
        "injected_count": 2,
        "budget_remaining": 1,
        "ids": ["a"],
        "scores": [0.9, math.nan, 1.5, "x", 0.2],
    }
    assert parse_retrieval(data, 32) == RetrievalSample(2, 5, 2, (0.9, 0.2))
    assert parse_retrieval({**data, "injected_count": 6}, 32) is None
    assert parse_retrieval({**data, "results_count": -1}, 32) is None
    assert parse_retrieval({**data, "scores": None}, 32) == RetrievalSample(2, 5, 2, ())


def test_parse_audit_and_bounded_operation_names():
    assert parse_audit({"operation": "register", "success": True}) == AuditSample("register", True)
    assert parse_audit({"operation": "user-id-123", "success": False}) == AuditSample(
        "other", False
    )
    assert parse_audit({"operation": 5, "success": True}) is None
    assert parse_audit({"operation": "clear"}) is None
    assert operation_label("streaming_session_end") == "streaming_session_end"
