"""Health: component checks, Kubernetes-style probes and the health HTTP server.

Usage (``ObservabilityStack`` does this when ``health_enabled``)::

    from aga_otel.health import CheckResult, build_health

    health = build_health(config, status_board, meter, plugin=lambda: plugin,
                          bridge_stats=bridge.stats, ready=lambda: True)
    reader.add_consumer(health)          # snapshots every health.interval seconds
    health.add_check("gpu", lambda: CheckResult.degraded("ECC errors") if ecc() else True)
    port = health.start_server()         # /livez /readyz /health /healthz; None on failure
    ...
    health.shutdown(5.0)

See docs/health.md for the endpoints, statuses and JSON shape.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from aga_otel.config import ObservabilityConfig
from aga_otel.health.monitor import HealthMonitor
from aga_otel.health.result import CheckResult
from aga_otel.health.server import make_health_app, server_ssl_context, start_health_server
from aga_otel.status import Status, StatusBoard

__all__ = [
    "CheckResult",
    "HealthMonitor",
    "Status",
    "build_health",
    "make_health_app",
    "server_ssl_context",
    "start_health_server",
]


def build_health(
    config: ObservabilityConfig,
    status: StatusBoard,
    meter: Any,
    *,
    plugin: Callable[[], object | None],
    bridge_stats: Callable[[], Mapping],
    ready: Callable[[], bool],
) -> HealthMonitor:
    """The stack's factory: a HealthMonitor (a MetricsConsumer) with the built-in checks.

    It starts nothing: register it with ``reader.add_consumer`` and call ``start_server()``.
    """
    return HealthMonitor(
        config, status, meter, plugin=plugin, bridge_stats=bridge_stats, ready=ready
    )
