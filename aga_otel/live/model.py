"""``LiveModel``: reads the stack once per update and encodes the page's payload once.

It is the only impure part of the view model: it calls the shared reader's public
``snapshot()``, the alert manager's ``firing()``/``history()``, the health monitor's
``report()``, the audit store's ``query()`` and the plugin's ``get_diagnostics()``, each
guarded so a broken component blanks its own panel and nothing else. Rates need two
snapshots, so it keeps the totals of the last ``window`` seconds; the time series points
of the last ``history_size`` updates are kept for pages that connect later.
"""

from __future__ import annotations

import json
import logging
import math
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from opentelemetry.sdk.metrics.export import MetricsData

from aga_otel.live.totals import Totals, read_totals
from aga_otel.live.view import alerts_view, audit_view, build_update, health_view, identity_view

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
        history_size: int = 300,
        slow_every: float = 5.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._snapshot = snapshot
        self._alerts, self._health, self._audit, self._plugin = alerts, health, audit, plugin
        self.window = window
        self.slow_every = slow_every
        self._clock = clock
        self._totals: deque[Totals] = deque()
        self._points: deque[dict] = deque(maxlen=history_size)
        self._lock = threading.Lock()
        self._slow: dict[str, Any] = {}
        self._slow_at: float | None = None
        self._audit_seq: Any = object()
        self._audit_rows: list | None = None
        self._failed: set[str] = set()

    # --- one update --------------------------------------------------------------------------
    def update(self) -> bytes:
        """Take one snapshot and return the payload every connected page receives."""
        totals = read_totals(self._snapshot())
        baseline = self._baseline(totals)
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
        with self._lock:
            self._points.append(payload["point"])
        return encode(payload)

    def history(self) -> bytes:
        """The time series points kept so far (a page's first message)."""
        with self._lock:
            points = list(self._points)
        return encode({"points": points})

    def _baseline(self, totals: Totals) -> Totals | None:
        """The newest kept totals at least ``window`` seconds older than ``totals``."""
        kept = self._totals
        if totals.time is None:
            return kept[-1] if kept else None
        if kept and (kept[-1].time or 0) < totals.time - 3 * self.window:
            kept.clear()  # nobody watched for a while: no rate across the gap
        kept.append(totals)
        while len(kept) > 2 and (kept[1].time or 0) <= totals.time - self.window:
            kept.popleft()
        return kept[0] if len(kept) > 1 else None

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


def encode(payload: Any) -> bytes:
    """Compact JSON; NaN and infinities (invalid JSON) become null."""
    try:
        text = json.dumps(payload, separators=(",", ":"), allow_nan=False, default=str)
    except ValueError:
        text = json.dumps(_finite(payload), separators=(",", ":"), default=str)
    return text.encode("utf-8")


def _finite(value: Any) -> Any:
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value
