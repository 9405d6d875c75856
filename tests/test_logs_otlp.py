"""OTLP log export over real gRPC and HTTP to the test receiver."""

from __future__ import annotations

import socket
import time

import pytest
from opentelemetry.sdk.resources import Resource

from aga_otel.config import ObservabilityConfig
from aga_otel.contract import Event
from aga_otel.logs import build_log_pipeline
from aga_otel.status import Status, StatusBoard
from tests.otlp_receiver import GrpcReceiver, HttpReceiver, attrs


def events():
    now = time.time()
    return [
        Event(
            "forward",
            now,
            {
                "aga_applied": False,
                "gate_mean": 0.1,
                "entropy_mean": 1.0,
                "layer_idx": 0,
                "latency_us": 50.0,
            },
        ),
        Event(
            "retrieval",
            now,
            {
                "layer_idx": 2,
                "results_count": 3,
                "injected_count": 1,
                "budget_remaining": 7,
                "ids": ["a"],
                "scores": [0.5],
            },
        ),
        Event(
            "audit",
            now,
            {
                "operation": "clear",
                "success": False,
                "error": "denied",
                "timestamp": now,
                "details": {"token": "s3cret"},
            },
        ),
    ]


@pytest.mark.parametrize(
    "receiver_cls,protocol", [(GrpcReceiver, "grpc"), (HttpReceiver, "http/protobuf")]
)
def test_records_arrive_over_otlp(receiver_cls, protocol):
    with receiver_cls() as rx:
        status = StatusBoard()
        config = ObservabilityConfig(
            otlp_endpoint=rx.endpoint,
            otlp_protocol=protocol,
            otlp_headers={"x-tenant": "aga"},
            otlp_compression="gzip",
        )
        p = build_log_pipeline(config, status, Resource.create({"service.name": "aga-otlp"}))
        p.handle_batch(events())
        p.shutdown(5)
        rx.received.wait_for("logs", lambda reqs: len(rx.received.log_records()) >= 2)
        records = rx.received.log_records()
        assert [r.event_name for r in records] == ["aga.retrieval", "aga.audit"]
        assert [r.severity_text for r in records] == ["INFO", "WARN"]
        audit = attrs(records[1].attributes)
        assert audit["aga.audit.operation"] == "clear" and audit["aga.audit.success"] is False
        assert "s3cret" not in audit["aga.audit.details"]
        assert records[1].body.string_value == "audit clear failed: denied"
        assert records[0].time_unix_nano > 0 and not records[0].trace_id
        resource = attrs(rx.received.resources("logs")[0].attributes)
        assert resource["service.name"] == "aga-otlp"
        assert any(h.get("x-tenant") == "aga" for h in rx.received.headers)
        assert status.get("logs.otlp").status is Status.HEALTHY
        assert p.stats()["otlp"] == {"exported": 2, "failed": 0}


def test_unreachable_collector_degrades_without_raising(tmp_path):
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    status = StatusBoard()
    config = ObservabilityConfig(
        otlp_endpoint=f"http://127.0.0.1:{port}",
        otlp_protocol="http/protobuf",
        otlp_timeout=0.5,
        audit_storage_backend="memory",
    )
    p = build_log_pipeline(config, status, Resource.create({}))
    p.handle_batch(events())
    p.flush(3)
    p.shutdown(3)
    assert status.get("logs.otlp").status is Status.DEGRADED
    assert p.stats()["otlp"]["failed"] == 2
    # the audit trail does not depend on the collector: the audit row and the inject row
    assert [e["operation"] for e in p.audit_store.iter_entries()] == ["inject", "clear"]
