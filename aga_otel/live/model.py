"""``LiveModel``: reads the stack once per update and encodes the page's payload once.

It is the only impure part of the view model: it calls the shared reader's public
``snapshot()``, the alert manager's ``firing()``/``history()``, the health monitor's
``report()``, the audit store's ``query()`` and the plugin's ``get_diagnostics()``, each
guarded so a broken component blanks its own panel and nothing else. Rates need two
snapshots, so it keeps the totals of the last ``window`` seconds; each update's time series
point goes to the :class:`~aga_otel.live.history.History` that pages connecting later
receive first (filled by the stack's sampler while nobody watches).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from opentelemetry.sdk.metrics.export import MetricsData

from aga_otel.live.history import History, RateWindow
from aga_otel.live.totals import read_totals
from aga_otel.live.view import (
    alerts_view,
    audit_view,
    build_update,
    encode,
    health_view,
    identity_view,
)

__all__ = ["LiveModel", "encode"]

logger = logging.getLogger(__name__)

AUDIT_TAIL = 12


class LiveModel:
    """Produces the dashboard's update payloads (JSON bytes) from the stack's components."""

    def __init__(
        self,
        snapshot: Callable[[], MetricsData | None],
        *,
        alerts: Any = None,
        health: Any = None,
        audit: Any = None,
        plugin: Callable[[], Any] = lambda: None,
        window: float = 10.0,
        history: History | None = None,
        slow_every: float = 5.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._snapshot = snapshot
        self._alerts, self._health, self._audit, self._plugin = alerts, health, audit, plugin
        self.window = window
        self.slow_every = slow_every
        self._clock = clock
        self._rates = RateWindow(window)
        self.points = history if history is not None else History(clock=clock)
        self._slow: dict[str, Any] = {}
        self._slow_at: float | None = None
        self._audit_seq: Any = object()
        self._audit_rows: list | None = None
        self._failed: set[str] = set()

    # --- one update --------------------------------------------------------------------------
    def update(self) -> bytes:
        """Take one snapshot and return the payload every connected page receives."""
        totals = read_totals(self._snapshot())
        baseline = self._rates.baseline(totals)
        now = self._clock()
        if self._slow_at is None or now - self._slow_at >= self.slow_every:
            self._slow_at = now
            self._slow = {"health": self._guard("health", self._read_health),
                          "model": self._guard("plugin", self._read_model)}  # fmt: skip
        extras = {
            "identity": identity_view(totals, self._slow.get("model")),
            "health": self._slow.get("health"),
            "alerts": self._guard("alerts", lambda: self._read_alerts(now)),
            "audit": self._guard("audit", self._read_audit),
        }
        payload = build_update(totals, baseline, extras=extras)
        self.points.add(payload["point"])
        return encode(payload)

    def history(self) -> bytes:
        """The time series points of the last minutes (a page's first message)."""
        return self.points.encoded()

    # --- the components, each fail-open ---------------------------------------------------------
    def _guard(self, name: str, read: Callable[[], Any]) -> Any:
        try:
            value = read()
        except Exception as exc:
            if name not in self._failed:  # once per component, not once per second
                logger.warning("dashboard: could not read %s: %s", name, exc)
            self._failed.add(name)
            return None
        self._failed.discard(name)
        return value

    def _read_health(self) -> dict | None:
        return None if self._health is None else health_view(self._health.report(verbose=False))

    def _read_model(self) -> str | None:
        plugin = self._plugin()
        if plugin is None:
            return None
        model = plugin.get_diagnostics().get("model_type")
        return None if model is None else str(model)

    def _read_alerts(self, now: float) -> dict | None:
        if self._alerts is None:
            return None
        return alerts_view(self._alerts.firing(), self._alerts.history(200), now)

    def _read_audit(self) -> list | None:
        store = self._audit
        if store is None:
            return None
        seq = getattr(store, "last_seq", None)
        if seq is None or seq != self._audit_seq:  # the store changed: query it again
            self._audit_rows = audit_view(store.query(limit=AUDIT_TAIL))
            self._audit_seq = seq
        return self._audit_rows
