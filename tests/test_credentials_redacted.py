"""Issue 14 item 10: credentials in endpoints and headers never show in logs, stats,
health output or configuration errors."""

from __future__ import annotations

import json
import logging
import socket
import urllib.request

import pytest
from conftest import local_config, simulate

from aga_otel import ConfigError, ObservabilityConfig
from aga_otel.redaction import redact_headers, redact_url

SECRETS = ("hunter2", "qtok", "hdr-secret")


def dead_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens there now
    return port


def assert_clean(*texts: str) -> None:
    for text in texts:
        leaked = [s for s in SECRETS if s in text]
        assert leaked == [], text


def test_failing_exports_show_no_credentials(plugin, make_stack, caplog):
    port = dead_port()

    def url(signal: str) -> str:
        return f"http://alice:hunter2@127.0.0.1:{port}/v1/{signal}?token=qtok"

    cfg = local_config(
        otlp_protocol="http/protobuf",
        otlp_metrics_endpoint=url("metrics"),
        otlp_logs_endpoint=url("logs"),
        otlp_traces_endpoint=url("traces"),
        otlp_metrics_enabled=True,
        otlp_logs_enabled=True,
        otlp_headers={"Authorization": "Bearer hdr-secret"},
        otlp_timeout=0.5,
        log_enabled=True,
        tracing_enabled=True,
        trace_forward_sample_rate=1.0,
        health_enabled=True,
    )
    with caplog.at_level(logging.DEBUG):
        stack = make_stack(plugin.event_bus, cfg)
        simulate(plugin, steps=3, layers=2)
        stack.force_flush()
        with urllib.request.urlopen(
            f"http://127.0.0.1:{stack.health.port}{cfg.health_path}?verbose=1", timeout=5
        ) as resp:
            health = resp.read().decode()
        stack.shutdown(timeout=5)
    stats = json.dumps(stack.get_stats())
    components = stack.get_stats()["components"]
    for name in ("metrics.otlp", "logs.otlp", "traces.otlp"):
        assert components[name]["status"] == "degraded"  # the failure is shown...
    for name in ("logs.otlp", "traces.otlp"):
        assert f"127.0.0.1:{port}/<redacted>" in components[name]["detail"]  # ...and where
    assert_clean(caplog.text, stats, health)


def test_demo_banner_hides_endpoint_credentials(tmp_path):
    import subprocess
    import sys

    port = dead_port()
    out = subprocess.run(
        [sys.executable, "-m", "aga_otel", "demo", "--duration", "0.2", "--quiet",
         "--prometheus-port", "0", "--health-port", "0",
         "--otlp-endpoint", f"http://alice:hunter2@127.0.0.1:{port}?token=qtok",
         "--otlp-protocol", "http/protobuf"],
        capture_output=True, text=True, timeout=60, cwd=tmp_path,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert f"127.0.0.1:{port}" in out.stdout
    assert_clean(out.stdout, out.stderr)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"otlp_headers": {"Authorization": "Bearer hdr-secret", "x-n": 5}},
        {"otlp_headers": "Authorization=Bearer hdr-secret"},
        {"otlp_endpoint": "ftp://alice:hunter2@collector:4317/x?token=qtok"},
        {"alert_webhook_url": "hooks.example/services/hunter2?token=qtok"},
        {"otlp_header": {"Authorization": "Bearer hdr-secret"}},  # a typo of a field name
        {"otlp_headerz": "Authorization=Bearer hdr-secret"},
    ],
)
def test_config_errors_never_repeat_credentials(kwargs):
    with pytest.raises(ConfigError) as err:
        ObservabilityConfig.from_dict(kwargs)
    assert err.value.field == next(iter(kwargs))
    assert_clean(str(err.value), repr(err.value.value))


def test_env_header_errors_never_repeat_credentials():
    env = {"OTEL_EXPORTER_OTLP_HEADERS": "Authorization=Bearer hdr-secret,broken"}
    with pytest.raises(ConfigError) as err:
        ObservabilityConfig().resolve(env=env)
    assert err.value.field == "OTEL_EXPORTER_OTLP_HEADERS"
    assert "Authorization" in str(err.value)
    assert_clean(str(err.value))


def test_helpers():
    assert redact_url("https://u:hunter2@h:4318/v1/logs?token=qtok") == "https://h:4318/<redacted>"
    assert redact_url("http://collector:4317") == "http://collector:4317"
    assert redact_url(None) is None
    assert redact_headers({"api-key": "hdr-secret", "n": 5}) == {
        "api-key": "<redacted>",
        "n": "<redacted> int",
    }
