"""One way to report an outage: every exporter, writer and webhook reports through
``ExportReporter`` — one log level, one line per outage and one per recovery, and each
failed attempt counted in ``aga_otel_export_failures_total{exporter}``."""

from __future__ import annotations

import logging
import socket
import time
import urllib.request

from conftest import local_config, simulate
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import (
    InMemoryMetricReader,
    MetricExporter,
    MetricExportResult,
)
from opentelemetry.sdk.resources import Resource
from prometheus_client.parser import text_string_to_metric_families

from aga_otel import semconv as sc
from aga_otel.alerts.model import Alert, AlertState
from aga_otel.alerts.webhook import WebhookChannel
from aga_otel.contract import Event
from aga_otel.exporters.reporting import LOG_LEVEL
from aga_otel.logs import build_log_pipeline
from aga_otel.metrics.recorder import create_instrument
from aga_otel.status import StatusBoard

REPORTER = "aga_otel.exporters.reporting"
FAILURES = "aga_otel_export_failures_total"


class FlakyExporter(MetricExporter):
    """A real metric exporter that fails its first ``fail`` exports, then succeeds."""

    def __init__(self, fail: int) -> None:
        super().__init__()
        self.fail, self.calls = fail, 0

    def export(self, metrics_data, timeout_millis: float = 10_000, **kwargs):
        self.calls += 1
        if self.calls <= self.fail:
            return MetricExportResult.FAILURE
        return MetricExportResult.SUCCESS

    def force_flush(self, timeout_millis: float = 10_000) -> bool:
        return True

    def shutdown(self, timeout_millis: float = 30_000, **kwargs) -> None:
        pass


def scrape_failures(port: int) -> dict[str, float]:
    body = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    return {
        s.labels["exporter"]: s.value
        for family in text_string_to_metric_families(body)
        for s in family.samples
        if s.name == FAILURES
    }


def reporter_lines(caplog) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == REPORTER]


def test_metric_exporter_outage_one_line_each_way_and_counted(plugin, make_stack, caplog):
    flaky = FlakyExporter(fail=3)
    stack = make_stack(plugin.event_bus, local_config(), metric_exporters=[flaky])
    simulate(plugin, steps=3)
    with caplog.at_level(logging.DEBUG):
        for _ in range(5):
            stack.force_flush()
    lines = reporter_lines(caplog)
    assert [r.levelno for r in lines] == [LOG_LEVEL, LOG_LEVEL]
    assert "custom0 metrics export failed" in lines[0].getMessage()
    assert "custom0 metrics export recovered" in lines[1].getMessage()
    assert scrape_failures(stack.prometheus.port)["custom0"] == 3
    state = stack.get_stats()["components"]["metrics.custom0"]
    assert state["status"] == "healthy" and state["failures"] == 3


def dead_url(path: str = "") -> str:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return f"http://127.0.0.1:{port}{path}"


def test_log_exporters_and_webhook_count_in_the_same_counter(tmp_path, caplog):
    reader = InMemoryMetricReader()
    meter = MeterProvider(metric_readers=[reader]).get_meter("test")
    status = StatusBoard()
    status.set_failure_counter(create_instrument(meter, sc.BY_KEY["export_failures"]))
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("x")
    cfg = local_config(
        log_enabled=True,
        log_file=str(blocker / "events.log"),  # the local file writer fails too
        otlp_protocol="http/protobuf",
        otlp_logs_endpoint=dead_url("/v1/logs"),
        otlp_timeout=0.5,
    )
    with caplog.at_level(logging.DEBUG):
        logs = build_log_pipeline(cfg, status, Resource.create({}))
        logs.handle_batch([Event("audit", time.time(), {"operation": "clear", "success": True})])
        logs.shutdown(5)
        hook = WebhookChannel(dead_url("/hook"), "generic", {"name": "aga"}, status, retries=0)
        alert = Alert("r", "latency_p99", 2.0, 1.0, ">", "warning", "m", AlertState.FIRING,
                      timestamp=1.0, started_at=1.0)  # fmt: skip
        hook.send(alert)
        hook.send(alert)
        deadline = time.monotonic() + 10
        while hook.stats()["failed"] < 2 and time.monotonic() < deadline:
            time.sleep(0.02)
        hook.shutdown(2)
    counted = {
        p.attributes["exporter"]: p.value
        for rm in reader.get_metrics_data().resource_metrics
        for sm in rm.scope_metrics
        for m in sm.metrics
        if m.name == sc.BY_KEY["export_failures"].name
        for p in m.data.data_points
    }
    assert counted["alerts.webhook"] == 2 and counted["logs.otlp"] >= 1
    assert counted["logs.file"] >= 1
    assert status.export_failures() == counted
    lines = reporter_lines(caplog)
    assert {r.levelno for r in lines} == {LOG_LEVEL}
    assert sorted(r.getMessage().split(" failed")[0] for r in lines) == [
        "aga-otel: OTLP log export",
        "aga-otel: alert webhook delivery",
        "aga-otel: local log output",
    ]  # one line per outage, not per attempt
