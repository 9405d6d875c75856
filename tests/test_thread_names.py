"""Every thread a full stack starts is named as README's architecture section lists it:
``aga-otel-<role>`` for aga-otel's own, the libraries' names for theirs."""

from __future__ import annotations

import re
import threading
import urllib.request
from pathlib import Path

from conftest import local_config, simulate
from otlp_receiver import HttpReceiver
from test_dashboard_server import Stream

README = Path(__file__).resolve().parent.parent / "README.md"


def documented() -> list[re.Pattern]:
    """The thread names of README's table, ``<N>`` standing for a number."""
    text = README.read_text()
    table = text[text.index("| Thread | Role |") :].split("\n\n", 1)[0]
    names = [
        n for row in table.splitlines()[2:] for n in re.findall(r"`([^`]+)`", row.split("|")[1])
    ]
    return [re.compile(re.escape(n).replace(re.escape("<N>"), r"\d+") + "$") for n in names]


def test_a_full_stack_starts_only_documented_threads(make_stack, plugin, tmp_path):
    patterns = documented()
    assert len(patterns) >= 18
    before = {t.ident for t in threading.enumerate()}
    with HttpReceiver() as receiver:
        receiver_threads = {t.ident for t in threading.enumerate()}
        stack = make_stack(plugin.event_bus, local_config(
            health_enabled=True, dashboard_enabled=True, log_enabled=True,
            log_file=str(tmp_path / "aga.jsonl"), alert_enabled=True, tracing_enabled=True,
            trace_forward_sample_rate=1.0, otlp_endpoint=receiver.endpoint,
            otlp_protocol="http/protobuf", export_interval=0.2, console_metrics=False,
            audit_storage_backend="sqlite", audit_storage_path=str(tmp_path / "audit.db"),
            alert_webhook_url="http://127.0.0.1:9/hook",
        ))  # fmt: skip
        stack.bind_plugin(plugin)
        simulate(plugin, steps=20)
        for path in ("/health", "/readyz"):
            urllib.request.urlopen(f"http://127.0.0.1:{stack.health.port}{path}").read()
        urllib.request.urlopen(f"http://127.0.0.1:{stack.prometheus.port}/metrics").read()
        stream = Stream(stack.health.port)  # the dashboard thread runs while a page watches
        try:
            stream.update()
            assert stack.force_flush()
            started = [t.name for t in threading.enumerate()
                       if t.ident not in before and t.ident not in receiver_threads
                       and t.name != "otlp-receiver-request"]  # fmt: skip
        finally:
            stream.close()
        stack.shutdown(timeout=5)
    undocumented = [n for n in started if not any(p.match(n) for p in patterns)]
    assert undocumented == [], started
    own = {n for n in started if n.startswith("aga-otel-")}
    # The roles this configuration must run (the rest are transient or other configs').
    assert own >= {"aga-otel-bridge", "aga-otel-audit", "aga-otel-alerts", "aga-otel-health",
                   "aga-otel-otlp", "aga-otel-alert-webhook", "aga-otel-prometheus-server",
                   "aga-otel-health-server", "aga-otel-dashboard"}, started  # fmt: skip
    assert "OtelBatchSpanRecordProcessor" in started
