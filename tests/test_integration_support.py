"""Shared parts of the integration, compatibility and fork tests (no tests of its own).

``AGAPluginDouble`` reproduces what aga-core 4.4's ``AGAPlugin.__init__`` does at its end
(contract document, "Auto-integration hook"): if ``config.observability_enabled``, import
``aga_observability.setup_observability`` (an ImportError is ignored) and call it with
``(plugin.event_bus, plugin.config)``.
"""

from __future__ import annotations

import os
import urllib.request

import pytest
from prometheus_client.parser import text_string_to_metric_families

from aga_otel.contract import SimulatedConfig, SimulatedPlugin
from aga_otel.integration import shutdown_observability


class AGAPluginDouble(SimulatedPlugin):
    """A SimulatedPlugin whose constructor ends like aga-core 4.4's AGAPlugin.__init__."""

    def __init__(self, config: SimulatedConfig | None = None) -> None:
        super().__init__(config)
        if self.config.observability_enabled:
            try:
                from aga_observability import setup_observability
            except ImportError:
                pass
            else:
                setup_observability(self.event_bus, self.config)


def aga_config(**overrides) -> SimulatedConfig:
    """An AGAConfig double; the Prometheus port is 0 (free) unless overridden."""
    return SimulatedConfig(**{"prometheus_port": 0, **overrides})


def scrape(port: int) -> dict[str, list]:
    """Samples by name from a real HTTP scrape of ``/metrics``."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as resp:
        text = resp.read().decode()
    samples: dict[str, list] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples.setdefault(sample.name, []).append(sample)
    return samples


@pytest.fixture
def isolated(monkeypatch):
    """No global stack before or after; the machine's OTEL_* variables do not leak in."""
    for key in list(os.environ):
        if key.startswith("OTEL_"):
            monkeypatch.delenv(key)
    shutdown_observability()
    yield
    shutdown_observability(timeout=5)
