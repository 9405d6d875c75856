"""The live dashboard: a page served by the stack itself, pushed over Server-Sent Events.

Usage (``ObservabilityStack`` does this after the health server starts, when
``dashboard_enabled``)::

    from aga_otel.live import attach_dashboard

    stack = ObservabilityStack(bus, ObservabilityConfig(dashboard_enabled=True)).start()
    # -> http://localhost:<health_port>/dashboard   (add ?token=... with dashboard_token)

Pieces, one module each: ``totals.py`` reads a cumulative snapshot (pure), ``view.py``
turns totals and component state into the payload (pure), ``model.py`` reads the stack's
components once per update, ``broadcast.py`` runs one update loop only while a page is
connected and shares its bytes among them, ``history.py`` keeps the last minutes of points
(sampled on the bridge's worker while nobody watches), ``app.py`` is the WSGI app mounted
on the health server. See docs/dashboard.md.
"""

from __future__ import annotations

import logging
from typing import Any

from aga_otel.live.app import PREFIX, DashboardApp
from aga_otel.live.broadcast import Broadcaster
from aga_otel.live.history import History, HistorySampler
from aga_otel.live.model import LiveModel
from aga_otel.live.totals import Totals, read_totals
from aga_otel.live.view import build_update, window_view
from aga_otel.status import Status

__all__ = [
    "PREFIX",
    "Broadcaster",
    "DashboardApp",
    "History",
    "HistorySampler",
    "LiveModel",
    "Totals",
    "attach_dashboard",
    "build_update",
    "dashboard_url",
    "read_totals",
    "window_view",
]

logger = logging.getLogger(__name__)
COMPONENT = "dashboard"


def attach_dashboard(stack: Any, *, interval: float = 1.0, max_clients: int = 8) -> Any:
    """Mount the dashboard on ``stack.health``'s server when ``dashboard_enabled``.

    Returns the mounted :class:`DashboardApp`, or None when the dashboard is off or cannot
    be served (no health server, no reader): that is logged and shown as the
    ``dashboard`` component's status, never raised.
    """
    cfg = stack.config
    if not cfg.dashboard_enabled:
        return None
    health, reader = stack.health, stack.reader
    if health is None or getattr(health, "port", None) is None or reader is None:
        logger.error("aga-otel: dashboard not served: the health server is not running")
        stack.status.failure(COMPONENT, "not served: no health server", Status.DEGRADED)
        return None
    try:
        model = LiveModel(
            reader.shared_snapshot,
            alerts=stack.alert_manager if cfg.alert_enabled else None,
            health=health,
            # Audit rows name operations and carry errors and details: shown only behind a
            # token, or when the operator asks for them (dashboard_verbose).
            audit=stack.audit_storage if cfg.dashboard_token or cfg.dashboard_verbose else None,
            plugin=lambda: stack.plugin,
            history=getattr(getattr(stack, "dashboard_history", None), "history", None),
        )
        app = DashboardApp(
            Broadcaster(model.update, interval, max_clients),
            model.history,
            cfg.dashboard_token,
            secure_cookie=bool(cfg.server_tls_certfile),
        )
        health.mount(PREFIX, app)
    except Exception as exc:
        logger.error("aga-otel: dashboard could not start: %s", exc)
        stack.status.failure(COMPONENT, f"could not start: {exc}", Status.DEGRADED)
        return None
    stack.status.success(COMPONENT, f"{PREFIX} on the health port {health.port}")
    return app


def dashboard_url(stack: Any, host: str = "localhost") -> str | None:
    """The page's URL (with the token when one is configured), or None when not served."""
    cfg = stack.config
    port = getattr(stack.health, "port", None)
    if not cfg.dashboard_enabled or port is None:
        return None
    scheme = "https" if cfg.server_tls_certfile else "http"
    token = f"?token={cfg.dashboard_token}" if cfg.dashboard_token else ""
    return f"{scheme}://{host}:{port}{PREFIX}{token}"
