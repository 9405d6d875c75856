"""Webhook bodies: pure functions from an ``Alert`` to JSON-ready data, one per format.

``generic`` (schema version 1)::

    {"schema": "aga-otel.alert/v1",
     "service": {"name": "aga", "instance_id": "..."},
     "alert": {"rule_name", "metric", "value", "threshold", "operator", "severity",
               "message", "state" ("firing"|"resolved"), "kind" ("threshold"|"adaptive"),
               "timestamp", "started_at" (Unix seconds), "fingerprint"}}

``slack``: an incoming-webhook message ``{"text": ...}``.
``alertmanager``: the list of one alert that Alertmanager's ``POST /api/v2/alerts`` takes
(``labels``, ``annotations``, ``startsAt``, and ``endsAt`` once resolved).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

from aga_otel.alerts.model import Alert, AlertState

SCHEMA = "aga-otel.alert/v1"


def _number(v: float | None) -> float | None:
    # JSON has no NaN/Infinity; an unknown value is null.
    return v if v is not None and math.isfinite(v) else None


def _rfc3339(ts: float) -> str:
    return datetime.fromtimestamp(ts, tz=timezone.utc).isoformat().replace("+00:00", "Z")


def generic(alert: Alert, service: dict[str, str]) -> dict[str, Any]:
    body = alert.as_dict()
    body["value"], body["threshold"] = _number(alert.value), _number(alert.threshold)
    return {"schema": SCHEMA, "service": dict(service), "alert": body}


def slack(alert: Alert, service: dict[str, str]) -> dict[str, Any]:
    icon = ":rotating_light:" if alert.state is AlertState.FIRING else ":white_check_mark:"
    where = service.get("name", "aga")
    return {
        "text": f"{icon} [{alert.state.value.upper()}] {alert.rule_name} "
        f"({alert.severity}) on {where}: {alert.message}"
    }


def alertmanager(alert: Alert, service: dict[str, str]) -> list[dict[str, Any]]:
    labels = {
        "alertname": alert.rule_name,
        "severity": alert.severity,
        "metric": alert.metric,
        "service_name": service.get("name", ""),
        "service_instance_id": service.get("instance_id", ""),
    }
    item: dict[str, Any] = {
        "labels": {k: v for k, v in labels.items() if v},
        "annotations": {
            "summary": alert.message,
            "value": "" if _number(alert.value) is None else repr(alert.value),
            "threshold": repr(alert.threshold),
        },
        "startsAt": _rfc3339(alert.started_at),
    }
    if alert.state is AlertState.RESOLVED:
        item["endsAt"] = _rfc3339(alert.timestamp)
    return [item]


FORMATS: dict[str, Callable[[Alert, dict[str, str]], Any]] = {
    "generic": generic,
    "slack": slack,
    "alertmanager": alertmanager,
}
