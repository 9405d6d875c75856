"""Pure span mapping (event → SpanSpec) and the forward sampler, as input → output tables."""

from __future__ import annotations

import pytest
from opentelemetry.semconv._incubating.attributes import gen_ai_attributes as genai
from opentelemetry.semconv.attributes import error_attributes

from aga_otel import semconv as sc
from aga_otel.config import ConfigError, ObservabilityConfig
from aga_otel.contract import Event
from aga_otel.tracing.spans import (
    ForwardSampler,
    SpanSpec,
    audit_span,
    error_type,
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
    assert retrieval_span(ev("retrieval", data), max_layers=64, with_documents=True) == expected


def test_retrieval_documents_are_opt_in_and_the_data_source_named():
    data = {"layer_idx": 3, "results_count": 5, "injected_count": 2, "ids": ["k1"],
            "scores": [0.9]}  # fmt: skip
    default = retrieval_span(ev("retrieval", data), 64)
    assert sc.SPAN_ATTR_GENAI_DOCUMENTS not in default.attributes
    assert sc.SPAN_ATTR_DOCUMENTS_DROPPED not in default.attributes
    assert sc.SPAN_ATTR_GENAI_DATA_SOURCE not in default.attributes  # unknown: not invented
    named = retrieval_span(ev("retrieval", data), 64, data_source_id="kb-prod")
    assert named.attributes[sc.SPAN_ATTR_GENAI_DATA_SOURCE] == "kb-prod"
    scores_only = retrieval_span(ev("retrieval", data), 64, ids_enabled=False,
                                 with_documents=True)  # fmt: skip
    assert scores_only.attributes[sc.SPAN_ATTR_GENAI_DOCUMENTS] == '[{"score":0.9}]'


def test_failed_retrieval_has_error_type():
    """aga-core 4.4 emits no failed retrieval; an event that carries ``error`` ends in error."""
    data = {"layer_idx": 1, "results_count": 0, "injected_count": 0,
            "error": "TimeoutError: retriever took 2 s"}  # fmt: skip
    spec = retrieval_span(ev("retrieval", data), 8)
    assert spec.error == "TimeoutError: retriever took 2 s"
    assert spec.attributes[sc.SPAN_ATTR_ERROR_TYPE] == "TimeoutError"
    ok = retrieval_span(ev("retrieval", {**data, "error": None}), 8)
    assert ok.error is None and sc.SPAN_ATTR_ERROR_TYPE not in ok.attributes


@pytest.mark.parametrize(
    ("text", "expected"),
    [("ValueError: bad id", "ValueError"), ("psycopg.OperationalError server closed", "psycopg.OperationalError"),
     ("KeyboardInterrupt", "KeyboardInterrupt"), ("store full", "_OTHER"), ("", "_OTHER"),
     (None, "_OTHER"), (42, "_OTHER"), ("Errorless text", "_OTHER"), ("x" * 500 + "Error", "_OTHER")],
)  # fmt: skip
def test_error_type_is_a_class_name_or_other(text, expected):
    assert error_type(text) == expected


def test_names_are_the_conventions():
    """Span attribute names and values against the installed registry (GenAI names are
    marked moved to semantic-conventions-genai there, unchanged) and the stable error.type."""
    assert sc.SPAN_ATTR_GENAI_OPERATION == genai.GEN_AI_OPERATION_NAME
    assert sc.SPAN_ATTR_GENAI_DOCUMENTS == genai.GEN_AI_RETRIEVAL_DOCUMENTS
    assert sc.SPAN_ATTR_GENAI_DATA_SOURCE == genai.GEN_AI_DATA_SOURCE_ID
    assert genai.GenAiOperationNameValues.RETRIEVAL.value == sc.GENAI_OPERATION_RETRIEVAL
    assert sc.SPAN_ATTR_ERROR_TYPE == error_attributes.ERROR_TYPE
    assert error_attributes.ErrorTypeValues.OTHER.value == sc.ERROR_TYPE_OTHER
    spec = retrieval_span(ev("retrieval", {"layer_idx": 0, "results_count": 0,
                                           "injected_count": 0}), 8)  # fmt: skip
    assert spec.name == spec.attributes[genai.GEN_AI_OPERATION_NAME]  # {gen_ai.operation.name}


@pytest.mark.parametrize(
    ("value", "expected"),
    [("true", True), ("TRUE", True), ("SPAN_ONLY", True), ("span_and_event", True),
     ("false", False), ("NO_CONTENT", False), ("EVENT_ONLY", False)],
)  # fmt: skip
def test_documents_follow_the_genai_content_switch(value, expected):
    env = {sc.ENV_GENAI_CAPTURE_CONTENT: value}
    assert ObservabilityConfig().resolve(env=env).trace_retrieval_documents is expected
    assert ObservabilityConfig().resolve(env={}).trace_retrieval_documents is False
    explicit = ObservabilityConfig(trace_retrieval_documents=not expected).resolve(env=env)
    assert explicit.trace_retrieval_documents is (not expected)  # code wins over the env


def test_bad_content_switch_and_data_source_fail_at_start_up():
    with pytest.raises(ConfigError) as err:
        ObservabilityConfig().resolve(env={sc.ENV_GENAI_CAPTURE_CONTENT: "yes please"})
    assert err.value.field == sc.ENV_GENAI_CAPTURE_CONTENT and "SPAN_ONLY" in str(err.value)
    for field, value in [("trace_retrieval_documents", "yes"), ("retrieval_data_source_id", "")]:
        with pytest.raises(ConfigError) as err:
            ObservabilityConfig(**{field: value})
        assert err.value.field == field


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
                     {"aga.audit.operation": "other", "aga.audit.success": False,
                      "error.type": "_OTHER"}, "boom"),
        ),
        (
            {"operation": "clear", "success": False, "error": None, "timestamp": float("nan")},
            SpanSpec("aga.audit clear", T_NS, T_NS,
                     {"aga.audit.operation": "clear", "aga.audit.success": False,
                      "error.type": "_OTHER"}, "operation failed"),
        ),
        (
            {"operation": "load_from", "success": False, "error": "FileNotFoundError: kb.json"},
            SpanSpec("aga.audit load_from", T_NS, T_NS,
                     {"aga.audit.operation": "load_from", "aga.audit.success": False,
                      "error.type": "FileNotFoundError"}, "FileNotFoundError: kb.json"),
        ),
        (  # the duration the event knows: the session's elapsed_seconds
            {"operation": "streaming_session_end", "success": True, "timestamp": T,
             "details": {"total_steps": 40, "elapsed_seconds": 2.5}},
            SpanSpec("aga.audit streaming_session_end", T_NS - 2_500_000_000, T_NS,
                     {"aga.audit.operation": "streaming_session_end", "aga.audit.success": True}),
        ),
        (  # an unusable elapsed_seconds: instantaneous, not a made-up length
            {"operation": "streaming_session_end", "success": True, "timestamp": T,
             "details": {"elapsed_seconds": -3}},
            SpanSpec("aga.audit streaming_session_end", T_NS, T_NS,
                     {"aga.audit.operation": "streaming_session_end", "aga.audit.success": True}),
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
