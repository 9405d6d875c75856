"""Issue 14 item 13: when the Prometheus port cannot be bound, the log line says what
still carries metrics — and never claims OTLP when OTLP is off."""

from __future__ import annotations

import logging

from conftest import local_config

from aga_otel.contract import EventBus
from aga_otel.exporters.otlp import other_metric_outputs


def bind_failure_line(make_stack, caplog, **config) -> str:
    with caplog.at_level(logging.ERROR):
        make_stack(EventBus(), local_config(**config))
    lines = [r.getMessage() for r in caplog.records if "could not bind" in r.getMessage()]
    assert len(lines) == 1
    return lines[0]


def test_bind_failure_without_otlp_does_not_claim_otlp(make_stack, caplog, busy_port):
    line = bind_failure_line(make_stack, caplog, prometheus_port=busy_port)
    assert "OTLP" not in line and "no other metrics exporter is configured" in line


def test_other_metric_outputs_names_what_is_on():
    assert "OTLP" not in other_metric_outputs(local_config())
    on = local_config(otlp_endpoint="http://127.0.0.1:4317", console_metrics=True)
    assert other_metric_outputs(on) == "metrics stay available over OTLP (grpc) and the console"
