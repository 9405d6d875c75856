"""Issue 13: ``AGA_OTEL_CONFIG=path`` configures the zero-code path (aga-core calling
``setup_observability`` itself): the file's health port, audit path and rules are in
effect; the file beats AGAConfig, ``OTEL_*`` beats the file, a bad file keeps aga-core up."""

from __future__ import annotations

import json
import socket
import sqlite3
import time
import urllib.request

import pytest
from test_integration_support import isolated  # noqa: F401

from aga_otel.contract import SimulatedPlugin, WorkloadProfile, WorkloadSimulator
from aga_otel.integration import setup_observability

pytestmark = pytest.mark.usefixtures("isolated")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def write_config(tmp_path, suffix: str, health_port: int) -> str:
    audit = tmp_path / "trail.db"
    if suffix == ".yaml":
        text = f"""
health_port: {health_port}
health_host: 127.0.0.1
prometheus_port: 0
prometheus_host: 127.0.0.1
service_name: from-file
audit_storage_backend: sqlite
audit_storage_path: {audit}
audit_flush_interval: 0.1
alert_default_rules: false
alert_evaluation_interval: 0.1
alert_rules:
  - {{name: any_forward, metric: gate_mean, operator: ">=", threshold: 0.0,
      window_seconds: 5, severity: info}}
"""
    else:
        text = f"""
[aga_otel]
health_port = {health_port}
health_host = "127.0.0.1"
prometheus_port = 0
prometheus_host = "127.0.0.1"
service_name = "from-file"
audit_storage_backend = "sqlite"
audit_storage_path = "{audit}"
audit_flush_interval = 0.1
alert_default_rules = false
alert_evaluation_interval = 0.1

[[aga_otel.alert_rules]]
name = "any_forward"
metric = "gate_mean"
operator = ">="
threshold = 0.0
window_seconds = 5
severity = "info"
"""
    path = tmp_path / f"aga-otel{suffix}"
    path.write_text(text)
    return str(path)


@pytest.mark.parametrize("suffix", [".yaml", ".toml"])
def test_file_settings_are_in_effect(tmp_path, monkeypatch, suffix):
    port = free_port()
    monkeypatch.setenv("AGA_OTEL_CONFIG", write_config(tmp_path, suffix, port))
    plugin = SimulatedPlugin()  # AGAConfig's prometheus_port 9090: the file's 0 wins
    stack = setup_observability(plugin.event_bus, plugin.config)  # as aga-core does
    assert stack is not None
    assert stack.config.service_name == "from-file" and stack.prometheus.port != 9090
    plugin.add_knowledge("fact-1")  # an audit event
    sim = WorkloadSimulator(plugin, WorkloadProfile(layers=2), seed=3)
    sim.run_steps(20)
    stack.force_flush(5)

    body = json.loads(urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=5).read())
    assert body  # the file's health port answers

    deadline = time.monotonic() + 10
    while not stack.alert_manager.firing() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert [a.rule_name for a in stack.alert_manager.firing()] == ["any_forward"]
    assert [r.name for r in stack.alert_manager.rules] == ["any_forward"]

    with sqlite3.connect(tmp_path / "trail.db") as db:
        ops = [row[0] for row in db.execute("SELECT operation FROM audit_log")]
    assert "register" in ops


def test_otel_variables_win_over_the_file(tmp_path, monkeypatch):
    monkeypatch.setenv("AGA_OTEL_CONFIG", write_config(tmp_path, ".yaml", 0))
    monkeypatch.setenv("OTEL_SERVICE_NAME", "from-env")
    stack = setup_observability(SimulatedPlugin().event_bus, None)
    assert stack.config.service_name == "from-env"
    assert stack.config.audit_storage_backend == "sqlite"  # the rest still from the file


def test_a_bad_file_keeps_aga_core_running_and_says_why(tmp_path, monkeypatch, caplog):
    path = tmp_path / "bad.yaml"
    path.write_text("health_port: 99999\n")
    monkeypatch.setenv("AGA_OTEL_CONFIG", str(path))
    assert setup_observability(SimulatedPlugin().event_bus, None) is None
    assert "health_port" in caplog.text and "stayed off" in caplog.text
