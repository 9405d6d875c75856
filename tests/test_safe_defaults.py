"""Issue 27, safe by default: the metrics and health servers listen on loopback unless
configured, the demo says what it exposes, and the dashboard hides audit details unless a
token or ``dashboard_verbose`` is on. Binds are read from the kernel's socket table."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from aga_otel import ObservabilityConfig
from aga_otel.contract import SimulatedPlugin

CMD = [sys.executable, "-m", "aga_otel"]
ROOT = Path(__file__).resolve().parents[1]
LOOPBACK, ANY = "127.0.0.1", "0.0.0.0"


def listening_address(port: int) -> str:
    """The IPv4 address a socket LISTENs on for ``port``, from /proc/net/tcp (Linux)."""
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        local, state = line.split()[1], line.split()[3]
        addr, hexport = local.split(":")
        if state == "0A" and int(hexport, 16) == port:  # 0A: TCP_LISTEN
            return ".".join(str(int(addr[i : i + 2], 16)) for i in (6, 4, 2, 0))
    raise AssertionError(f"nothing listens on port {port}")


def test_config_defaults_are_loopback():
    cfg = ObservabilityConfig()
    assert (cfg.prometheus_host, cfg.health_host) == (LOOPBACK, LOOPBACK)
    assert cfg.dashboard_verbose is False


def test_stack_with_default_hosts_binds_loopback(make_stack, plugin):
    # Only the ports are chosen (0: free ones); the hosts are the defaults.
    cfg = ObservabilityConfig(
        prometheus_port=0, health_port=0, log_enabled=False, alert_enabled=False
    )
    stack = make_stack(plugin.event_bus, cfg)
    assert listening_address(stack.prometheus.port) == LOOPBACK
    assert listening_address(stack.health.port) == LOOPBACK
    assert "(loopback only)" in stack.describe_endpoints()


def test_environment_still_chooses_the_metrics_host(make_stack, plugin, monkeypatch):
    monkeypatch.setenv("OTEL_EXPORTER_PROMETHEUS_HOST", ANY)
    cfg = ObservabilityConfig(prometheus_port=0, health_enabled=False).resolve()
    stack = make_stack(plugin.event_bus, cfg)
    assert listening_address(stack.prometheus.port) == ANY
    assert "all interfaces" in stack.describe_endpoints()


def _demo_lines(*extra: str) -> list[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    proc = subprocess.Popen(
        [*CMD, "demo", "--prometheus-port", "0", "--health-port", "0", "--quiet", *extra],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env,
    )  # fmt: skip
    lines = []
    try:
        for line in proc.stdout:
            lines.append(line)
            if "Ctrl-C" in line:
                break
        ports = [int(p) for p in re.findall(r"https?://[^:/]+:(\d+)/", "".join(lines))]
        addresses = {listening_address(p) for p in ports}
    finally:
        proc.terminate()
        proc.communicate(timeout=60)
    assert len(ports) >= 2, "".join(lines)
    return lines, addresses


def test_demo_listens_on_loopback_and_says_so():
    lines, addresses = _demo_lines()
    text = "".join(lines)
    assert addresses == {LOOPBACK}
    assert "http://127.0.0.1:" in text and "[loopback only]" in text
    assert "audit details hidden" in text and "--host 0.0.0.0" in text


def test_demo_host_flag_exposes_and_says_so():
    lines, addresses = _demo_lines("--host", ANY)
    assert addresses == {ANY}
    assert "all interfaces, no authentication" in "".join(lines)


def test_dashboard_hides_audit_rows_without_token_or_verbose(make_stack):
    from test_dashboard_server import Stream  # the event-stream reader of those tests

    for extra, shown in (({}, False), ({"dashboard_verbose": True}, True)):
        plugin = SimulatedPlugin()
        cfg = ObservabilityConfig(
            prometheus_enabled=False, health_port=0, dashboard_enabled=True,
            log_enabled=False, alert_enabled=False, **extra,
        )  # fmt: skip
        stack = make_stack(plugin.event_bus, cfg)
        plugin.event_bus.emit(
            "audit",
            {
                "operation": "register",
                "success": True,
                "error": None,
                "details": {"id": "fact-1"},
                "timestamp": time.time(),
            },
        )
        stack.force_flush()
        assert stack.audit_storage.query(limit=5)
        stream = Stream(stack.health.port)
        try:
            stream.event()  # history
            update = stream.update()
        finally:
            stream.close()
        assert (update["audit"] is not None) is shown, extra
        if not shown:
            assert "fact-1" not in json.dumps(update)


def test_containers_listen_on_all_interfaces_explicitly():
    compose = yaml.safe_load((ROOT / "collector/aga-otel.yaml").read_text())
    assert (compose["prometheus_host"], compose["health_host"]) == (ANY, ANY)
    k8s = yaml.safe_load((ROOT / "deploy/kubernetes/aga-otel-config.yaml").read_text())
    cfg = yaml.safe_load(k8s["data"]["aga-otel.yaml"])
    assert (cfg["prometheus_host"], cfg["health_host"]) == (ANY, ANY)
    assert 'CMD ["demo", "--host", "0.0.0.0"]' in (ROOT / "Dockerfile").read_text()


@pytest.mark.parametrize("doc", ["README.md", "docs/security.md"])
def test_docs_say_loopback_by_default(doc):
    text = (ROOT / doc).read_text()
    assert "127.0.0.1" in text and "--host 0.0.0.0" in text
    assert '`"0.0.0.0"`' not in text  # no table row claims the old default
