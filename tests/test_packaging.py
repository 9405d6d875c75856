"""Packaging: the runtime dependencies are what the runtime imports, and they are enough.

A fresh virtual environment gets ``pip install <this tree>`` with no extras (from PyPI, the
pip cache making repeated runs quick); the demo runs in it and serves ``/metrics``, scraped
over HTTP and parsed. gRPC is an extra: without it a configuration that exports over gRPC
fails at start-up with an error naming the extra. Fails rather than skips when CI=true.
"""

from __future__ import annotations

import os
import subprocess
import sys
import venv
from pathlib import Path

import pytest
import requests
from conftest import require
from prometheus_client.parser import text_string_to_metric_families
from test_prometheus_server_support import free_port, stop, wait_for

from aga_otel import ObservabilityConfig
from aga_otel.config import ConfigError
from aga_otel.contract import SimulatedPlugin
from aga_otel.exporters.otlp import GRPC_EXTRA, grpc_signals, require_grpc
from aga_otel.stack import ObservabilityStack

ROOT = Path(__file__).resolve().parents[1]
INSTALL_TIMEOUT_S = 600  # a cold pip cache downloads the OpenTelemetry SDK and its deps
# Distributions the runtime does not import: only tests (prometheus) or an extra (grpc).
NOT_RUNTIME = ("opentelemetry-exporter-prometheus", "opentelemetry-exporter-otlp-proto-grpc",
               "grpcio")  # fmt: skip


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "PYTHON", "VIRTUAL"))}
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    return env


@pytest.fixture(scope="module")
def runtime_venv(tmp_path_factory) -> Path:
    """A fresh venv with aga-otel from this tree and its runtime dependencies only."""
    where = tmp_path_factory.mktemp("runtime") / "venv"
    venv.EnvBuilder(with_pip=True).create(where)
    python = where / "bin" / "python"
    try:
        run = subprocess.run(
            [str(python), "-m", "pip", "install", "-q", str(ROOT)],
            capture_output=True, text=True, timeout=INSTALL_TIMEOUT_S, env=_env(), cwd=where,
        )  # fmt: skip
    except subprocess.TimeoutExpired:
        require(False, f"pip install took over {INSTALL_TIMEOUT_S} s (no index reachable?)")
    require(run.returncode == 0, f"pip install of the tree failed: {run.stderr[-2000:]}")
    return python


def _installed(python: Path) -> set[str]:
    out = subprocess.run(
        [str(python), "-c", "import importlib.metadata as m; "
         "print('\\n'.join(d.metadata['Name'].lower() for d in m.distributions()))"],
        capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    return set(out.stdout.split())


def test_runtime_install_leaves_out_test_and_grpc_packages(runtime_venv):
    installed = _installed(runtime_venv)
    assert "aga-otel" in installed and "opentelemetry-sdk" in installed
    assert not installed & set(NOT_RUNTIME), sorted(installed & set(NOT_RUNTIME))
    assert "pytest" not in installed and "ruff" not in installed


def test_demo_serves_metrics_with_runtime_dependencies_only(runtime_venv, tmp_path):
    port = free_port()
    log = tmp_path / "demo.log"
    cmd = [str(runtime_venv.parent / "aga-otel"), "demo", "--duration", "60", "--quiet",
           "--prometheus-port", str(port), "--health-port", "0"]  # fmt: skip
    proc = subprocess.Popen(cmd, stdout=log.open("w"), stderr=subprocess.STDOUT, env=_env(),
                            cwd=tmp_path)  # fmt: skip
    try:
        url = f"http://127.0.0.1:{port}/metrics"

        def served() -> bool:
            if proc.poll() is not None:
                raise AssertionError(f"demo exited: {log.read_text()[-2000:]}")
            return "aga_forward_total{" in requests.get(url, timeout=5).text

        wait_for(served, 60, "the demo's /metrics")
        families = {f.name: f for f in text_string_to_metric_families(requests.get(url).text)}
        forward = sum(s.value for s in families["aga_forward"].samples if s.name.endswith("_total"))
        assert forward > 0
        assert "aga_forward_duration_seconds" in families
        assert "aga_otel_events_received" in families
    finally:
        stop(proc)


def test_grpc_without_the_extra_fails_at_start_up_naming_it(runtime_venv, tmp_path):
    for extra_args, env, field in [
        (["--otlp-endpoint", "http://127.0.0.1:4317"], {}, "otlp_protocol"),  # the default
        ([], {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4317",
              "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"}, "otlp_protocol"),
    ]:  # fmt: skip
        cmd = [str(runtime_venv.parent / "aga-otel"), "demo", "--duration", "1", "--quiet",
               "--prometheus-port", "0", "--health-port", "0", *extra_args]  # fmt: skip
        run = subprocess.run(cmd, capture_output=True, text=True, timeout=120,
                             env={**_env(), **env}, cwd=tmp_path)  # fmt: skip
        assert run.returncode != 0
        assert field in run.stderr and GRPC_EXTRA in run.stderr, run.stderr
    # the same setting over HTTP needs nothing more: the demo runs (the push just fails)
    cmd = [str(runtime_venv.parent / "aga-otel"), "demo", "--duration", "1", "--quiet",
           "--prometheus-port", "0", "--health-port", "0", "--otlp-endpoint",
           "http://127.0.0.1:9", "--otlp-protocol", "http/protobuf"]  # fmt: skip
    run = subprocess.run(cmd, capture_output=True, text=True, timeout=120, env=_env(),
                         cwd=tmp_path)  # fmt: skip
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]


@pytest.mark.parametrize(
    ("settings", "provided", "expected"),
    [
        ({}, (), []),  # no endpoint: no OTLP at all
        ({"otlp_endpoint": "http://c:4317"}, (), ["metrics", "logs"]),
        ({"otlp_endpoint": "http://c:4317", "tracing_enabled": True}, (), ["metrics", "logs", "traces"]),
        ({"otlp_endpoint": "http://c:4317", "log_enabled": False}, (), ["metrics"]),
        ({"otlp_endpoint": "http://c:4318", "otlp_protocol": "http/protobuf"}, (), []),
        ({"otlp_endpoint": "http://c:4318", "otlp_protocol": "http/protobuf",
          "otlp_signals": {"logs": {"protocol": "grpc"}}}, (), ["logs"]),
        ({"otlp_endpoint": "http://c:4317", "otlp_metrics_enabled": False}, (), ["logs"]),
        ({"otlp_endpoint": "http://c:4317"}, ("metrics", "logs"), []),  # the app's providers
    ],
)  # fmt: skip
def test_which_signals_need_grpc(settings, provided, expected):
    config = ObservabilityConfig(**settings).resolve(env={})
    assert grpc_signals(config, frozenset(provided)) == expected


def test_grpc_installed_here_passes_and_a_stack_starts():
    """In the test environment (which has the extra) the check passes, so the stack builds."""
    config = ObservabilityConfig(otlp_endpoint="http://127.0.0.1:9", prometheus_port=0,
                                 health_enabled=False, audit_storage_backend="memory")  # fmt: skip
    require_grpc(config.resolve(env={}))
    stack = ObservabilityStack(SimulatedPlugin().event_bus, config, env={})
    assert stack.config.otlp_protocol == "grpc"
    with pytest.raises(ConfigError):  # an unknown protocol is still refused by name
        ObservabilityConfig(otlp_protocol="grpcs")
    assert sys.modules.get("grpc") is not None
