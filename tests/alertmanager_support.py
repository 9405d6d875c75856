"""A real Alertmanager for the tests (no tests here): Debian's ``prometheus-alertmanager``
on loopback with a free port, a temporary storage path and clustering off.

``require_binary`` fails (not skips) when ``CI=true`` and the binary is missing.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import requests
import yaml
from test_prometheus_server_support import free_port, require_binary, stop, wait_for

ALERTMANAGER = shutil.which("prometheus-alertmanager") or "/usr/bin/prometheus-alertmanager"
AMTOOL = shutil.which("amtool") or "/usr/bin/amtool"


class Alertmanager:
    """An Alertmanager process; ``alerts_url`` takes the ``alertmanager`` webhook format."""

    def __init__(self, workdir: Path, config: dict) -> None:
        require_binary(ALERTMANAGER)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.alerts_url = f"{self.url}/api/v2/alerts"
        cfg = workdir / "alertmanager.yml"
        cfg.write_text(yaml.safe_dump(config, sort_keys=False))
        cmd = [ALERTMANAGER, f"--config.file={cfg}", f"--storage.path={workdir / 'am-data'}",
               f"--web.listen-address=127.0.0.1:{self.port}",
               "--cluster.listen-address=",  # no gossip port: one peer, nothing bound on *
               "--log.level=warn"]  # fmt: skip
        self.log = workdir / "alertmanager.log"
        self.proc = subprocess.Popen(cmd, stdout=self.log.open("w"), stderr=subprocess.STDOUT)
        try:
            wait_for(self._ready, 20, "Alertmanager /-/ready")
        except AssertionError:
            stop(self.proc)
            raise AssertionError(self.log.read_text()[-2000:]) from None

    def _ready(self) -> bool:
        if self.proc.poll() is not None:
            raise AssertionError(f"alertmanager exited: {self.log.read_text()[-2000:]}")
        return requests.get(f"{self.url}/-/ready", timeout=2).status_code == 200

    def alerts(self, **labels: str) -> list[dict]:
        """Active (unresolved) alerts, inhibited and silenced ones included, by labels."""
        resp = requests.get(self.alerts_url, timeout=5)
        resp.raise_for_status()
        return [a for a in resp.json()
                if all(a["labels"].get(k) == v for k, v in labels.items())]  # fmt: skip

    def post(self, alerts: list[dict]) -> None:
        requests.post(self.alerts_url, json=alerts, timeout=5).raise_for_status()

    def close(self) -> None:
        stop(self.proc)


def minimal_config(resolve_timeout: str) -> dict:
    return {
        "global": {"resolve_timeout": resolve_timeout},
        "route": {"receiver": "null"},
        "receivers": [{"name": "null"}],
    }
