"""Shared fixtures: fresh stacks on free ports, the simulated plugin and workload."""

from __future__ import annotations

import http.client
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))  # for otlp_receiver and helpers

from aga_otel import ObservabilityConfig  # noqa: E402
from aga_otel.contract import SimulatedPlugin, WorkloadProfile, WorkloadSimulator  # noqa: E402
from aga_otel.stack import ObservabilityStack  # noqa: E402

IN_CI = os.environ.get("CI", "").lower() == "true"


def require(condition: bool, reason: str) -> None:
    """Skip locally when an external part is missing; fail in CI (CI=true)."""
    if condition:
        return
    if IN_CI:
        pytest.fail(f"required in CI: {reason}")
    pytest.skip(reason)


def local_config(**overrides) -> ObservabilityConfig:
    """A config that binds nothing fixed: ports 0, no health server, no files."""
    base = {
        "prometheus_port": 0,
        "prometheus_host": "127.0.0.1",
        "health_enabled": False,
        "health_port": 0,
        "health_host": "127.0.0.1",
        "log_enabled": False,
        "alert_enabled": False,
        "audit_storage_backend": "memory",
    }
    base.update(overrides)
    return ObservabilityConfig(**base)


@pytest.fixture
def plugin() -> SimulatedPlugin:
    return SimulatedPlugin()


@pytest.fixture
def make_stack():
    """Build started stacks (env isolated from the machine's OTEL_*); all shut down after."""
    stacks: list[ObservabilityStack] = []

    def make(bus, config: ObservabilityConfig | None = None, env=None, **kw) -> ObservabilityStack:
        stack = ObservabilityStack(bus, config or local_config(), env=env or {}, **kw)
        stacks.append(stack.start())
        return stack

    yield make
    for stack in stacks:
        stack.shutdown(timeout=5)


def simulate(
    plugin: SimulatedPlugin, steps: int = 100, seed: int = 7, **profile
) -> WorkloadSimulator:
    sim = WorkloadSimulator(plugin, WorkloadProfile(**profile), seed=seed)
    sim.start()
    sim.run_steps(steps)
    return sim


@pytest.fixture(scope="module")
def cert(tmp_path_factory):
    """A self-signed certificate for 127.0.0.1: (certfile, keyfile)."""
    return _make_cert(tmp_path_factory)


def _make_cert(tmp_path_factory):
    if shutil.which("openssl") is None:  # a TLS test FAILS rather than skips in CI
        if os.environ.get("CI") == "true":
            pytest.fail("openssl is needed to make a test certificate")
        pytest.skip("openssl not available to make a test certificate")
    d = tmp_path_factory.mktemp("tls")
    crt, key = d / "server.crt", d / "server.key"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1",
         "-keyout", str(key), "-out", str(crt)],
        check=True, capture_output=True,
    )  # fmt: skip
    return str(crt), str(key)


def http_request(port: int, path: str = "/", method: str = "GET", headers=None, *, tls=None,
                 timeout: float = 10.0) -> tuple[int, dict, bytes]:  # fmt: skip
    """One request to 127.0.0.1:port (HTTPS with the ``tls`` context): status, headers, body."""
    if tls is None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    else:
        conn = http.client.HTTPSConnection("127.0.0.1", port, timeout=timeout, context=tls)
    try:
        conn.request(method, path, headers=headers or {})
        resp = conn.getresponse()
        return resp.status, dict(resp.getheaders()), resp.read()
    finally:
        conn.close()


def get_json(port: int, path: str) -> tuple[int, dict]:
    """GET a JSON endpoint on 127.0.0.1:port: (status, decoded body), error codes included."""
    status, _, body = http_request(port, path)
    return status, json.loads(body)


@pytest.fixture
def busy_port():
    """A loopback port another program holds (listening) for the whole test."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(1)
    yield s.getsockname()[1]
    s.close()


def wait_for(predicate, timeout: float = 10.0, what: str = "", interval: float = 0.02) -> bool:
    """Poll ``predicate`` until true (then True) or raise ``AssertionError`` after ``timeout``
    seconds, naming ``what`` was awaited: a forgotten ``assert`` cannot hide a timeout."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    if predicate():
        return True
    raise AssertionError(f"timed out after {timeout:g}s waiting for {what or 'the condition'}")
