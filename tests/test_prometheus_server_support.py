"""Support for the real-Prometheus tests (no tests here): a real Prometheus server and real
``aga-otel demo`` processes, no mocks.

Prometheus is the Debian package's binary (installed by scripts/install-system-deps.sh);
it runs on loopback with a free port and a temporary storage directory.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
import yaml
from conftest import wait_for as conftest_wait_for

IN_CI = os.environ.get("CI", "").lower() == "true"
PROMETHEUS = shutil.which("prometheus") or "/usr/bin/prometheus"
PROMTOOL = shutil.which("promtool") or "/usr/bin/promtool"


def require_binary(path: str) -> None:
    """Skip when a binary is missing locally; in CI (CI=true) that is a failure."""
    if os.access(path, os.X_OK):
        return
    reason = f"{path} not installed (run scripts/install-system-deps.sh)"
    if IN_CI:
        pytest.fail(f"required in CI: {reason}")
    pytest.skip(reason)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(predicate, timeout: float, what: str, interval: float = 0.2) -> bool:
    """conftest's ``wait_for``, a server still starting (refused connection) counting as
    not yet."""

    def ready() -> bool:
        try:
            return bool(predicate())
        except requests.RequestException:
            return False

    return conftest_wait_for(ready, timeout, what, interval)


def stop(proc: subprocess.Popen, timeout: float = 10) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


@dataclass
class Demo:
    """One ``aga-otel demo`` subprocess serving /metrics on ``port``."""

    proc: subprocess.Popen
    port: int

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.port}"

    def scrape(self) -> str:
        return requests.get(f"http://{self.target}/metrics", timeout=5).text


def start_demo(seed: int, log: Path, resource_attributes: str = "") -> Demo:
    """``resource_attributes``: the demo's ``OTEL_RESOURCE_ATTRIBUTES`` (none by default)."""
    port = free_port()
    cmd = [sys.executable, "-m", "aga_otel", "demo", "--duration", "120", "--quiet",
           "--seed", str(seed), "--prometheus-port", str(port), "--health-port", "0"]  # fmt: skip
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    if resource_attributes:
        env["OTEL_RESOURCE_ATTRIBUTES"] = resource_attributes
    proc = subprocess.Popen(cmd, stdout=log.open("w"), stderr=subprocess.STDOUT, env=env)
    demo = Demo(proc, port)
    wait_for(lambda: "aga_forward_total{" in demo.scrape(), 20, f"demo metrics on {port}")
    return demo


class ServerProcess:
    """A Prometheus-family server on loopback (a free port), ready when ``/-/ready`` is 200.

    Subclasses build the command line from ``self.port`` and call :meth:`start`.
    """

    name = "server"

    def __init__(self, workdir: Path, config: dict) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.config_file = workdir / f"{self.name}.yml"
        self.config_file.write_text(yaml.safe_dump(config, sort_keys=False))
        self.log = workdir / f"{self.name}.log"

    def start(self, cmd: list[str]) -> None:
        self.proc = subprocess.Popen(cmd, stdout=self.log.open("w"), stderr=subprocess.STDOUT)
        try:
            wait_for(self._ready, 20, f"{self.name} /-/ready")
        except AssertionError:
            stop(self.proc)
            raise AssertionError(self.log.read_text()[-2000:]) from None

    def _ready(self) -> bool:
        if self.proc.poll() is not None:
            raise AssertionError(f"{self.name} exited: {self.log.read_text()[-2000:]}")
        return requests.get(f"{self.url}/-/ready", timeout=2).status_code == 200

    def close(self) -> None:
        stop(self.proc)


class Prometheus(ServerProcess):
    """A Prometheus server process with its HTTP API on ``url``."""

    name = "prometheus"

    def __init__(self, workdir: Path, config: dict) -> None:
        super().__init__(workdir, config)
        self.start([PROMETHEUS, f"--config.file={self.config_file}",
                    f"--storage.tsdb.path={workdir / 'data'}",
                    f"--web.listen-address=127.0.0.1:{self.port}",
                    "--storage.tsdb.retention.time=1h"])  # fmt: skip

    def api(self, path: str, **params) -> dict:
        resp = requests.get(f"{self.url}/api/v1/{path}", params=params, timeout=10)
        body = resp.json()
        if body.get("status") != "success":
            raise AssertionError(f"{path} {params}: {body.get('error', body)}")
        return body["data"]

    def query(self, expr: str) -> list[dict]:
        """Instant query at now; the result vector (or a one-element list for a scalar)."""
        data = self.api("query", query=expr)
        return data["result"] if data["resultType"] in ("vector", "matrix") else [data]
