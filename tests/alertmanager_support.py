"""A real Alertmanager for the tests (no tests here): Debian's ``prometheus-alertmanager``
on loopback with a free port, a temporary storage path and clustering off.

``require_binary`` fails (not skips) when ``CI=true`` and the binary is missing.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import requests
from test_prometheus_server_support import ServerProcess, require_binary

ALERTMANAGER = shutil.which("prometheus-alertmanager") or "/usr/bin/prometheus-alertmanager"
AMTOOL = shutil.which("amtool") or "/usr/bin/amtool"


class Alertmanager(ServerProcess):
    """An Alertmanager process; ``alerts_url`` takes the ``alertmanager`` webhook format."""

    name = "alertmanager"

    def __init__(self, workdir: Path, config: dict) -> None:
        require_binary(ALERTMANAGER)
        super().__init__(workdir, config)
        self.alerts_url = f"{self.url}/api/v2/alerts"
        self.start([ALERTMANAGER, f"--config.file={self.config_file}",
                    f"--storage.path={workdir / 'am-data'}",
                    f"--web.listen-address=127.0.0.1:{self.port}",
                    "--cluster.listen-address=",  # no gossip port: one peer, nothing on *
                    "--log.level=warn"])  # fmt: skip

    def alerts(self, **labels: str) -> list[dict]:
        """Active (unresolved) alerts, inhibited and silenced ones included, by labels."""
        resp = requests.get(self.alerts_url, timeout=5)
        resp.raise_for_status()
        return [a for a in resp.json()
                if all(a["labels"].get(k) == v for k, v in labels.items())]  # fmt: skip

    def post(self, alerts: list[dict]) -> None:
        requests.post(self.alerts_url, json=alerts, timeout=5).raise_for_status()


def minimal_config(resolve_timeout: str) -> dict:
    return {
        "global": {"resolve_timeout": resolve_timeout},
        "route": {"receiver": "null"},
        "receivers": [{"name": "null"}],
    }
