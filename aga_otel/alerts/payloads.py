"""Webhook bodies: pure functions from an ``Alert`` to JSON-ready data, one per format.

``generic`` (schema version 1)::

    {"schema": "aga-otel.alert/v1",
     "service": {"name": "aga", "instance_id": "..."},
     "alert": {"rule_name", "metric", "value", "threshold", "operator", "severity",
               "message", "state" ("firing"|"resolved"), "kind" ("threshold"|"adaptive"),
               "timestamp", "started_at" (Unix seconds), "fingerprint"}}

``slack``: an incoming-webhook message ``{"text": ...}``.
``alertmanager``: the alert list Alertmanager's ``POST /api/v2/alerts`` takes, following its
client contract as Prometheus does (https://prometheus.io/docs/alerting/latest/clients/):
``labels`` (``naming.alert_labels`` plus ``job``/``instance`` from ``service.name`` and
``service.instance.id``, as the Collector's prometheus exporter sets them), ``annotations``,
``startsAt``, ``endsAt`` (for a firing alert ``valid_for`` seconds ahead: the channel re-sends
it before then; for a resolved one the resolution time, in the past) and ``generatorURL``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

from aga_otel.alerts import naming
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


def alertmanager_item(
    alert: Alert,
    service: dict[str, str],
    *,
    now: float,
    valid_for: float,
    generator_url: str | None = None,
) -> dict[str, Any]:
    """One alert of Alertmanager's v2 API, as sent at ``now``."""
    labels = naming.alert_labels(alert.rule_name, alert.severity, alert.metric)
    labels["job"] = service.get("name", "")
    labels["instance"] = service.get("instance_id", "")
    item: dict[str, Any] = {
        "labels": {k: v for k, v in labels.items() if v},
        "annotations": {
            "summary": alert.message,
            "value": "" if _number(alert.value) is None else repr(alert.value),
            "threshold": repr(alert.threshold),
            "runbook_url": naming.runbook_url(labels["alertname"]),
        },
        "startsAt": _rfc3339(alert.started_at),
    }
    if alert.state is AlertState.RESOLVED:
        item["endsAt"] = _rfc3339(alert.timestamp)
    else:
        item["endsAt"] = _rfc3339(now + valid_for)
    if generator_url:
        item["generatorURL"] = generator_url
    return item


def alertmanager(
    alert: Alert,
    service: dict[str, str],
    *,
    now: float | None = None,
    valid_for: float = 4 * 60.0,
    generator_url: str | None = None,
) -> list[dict[str, Any]]:
    """The one-alert list for a state change (``now`` defaults to the alert's time)."""
    when = alert.timestamp if now is None else now
    return [alertmanager_item(alert, service, now=when, valid_for=valid_for,
                              generator_url=generator_url)]  # fmt: skip


FORMATS: dict[str, Callable[[Alert, dict[str, str]], Any]] = {
    "generic": generic,
    "slack": slack,
    "alertmanager": alertmanager,
}
