"""Alerting: SLO rules evaluated on the metric stream, with log, callback and webhook channels.

The engine is a ``MetricsConsumer`` of the stack's shared metric reader: it works on
snapshots every ``alert_evaluation_interval`` seconds and does nothing per event. The
same rule definitions also generate the Prometheus alerting rules (``promrules``).

Usage::

    stack = ObservabilityStack(bus, ObservabilityConfig(alert_webhook_url=url))
    stack.start()
    stack.alert_manager.add_callback(lambda alert: print(alert.rule_name, alert.state))
    stack.alert_manager.firing()      # alerts firing now
    stack.alert_manager.history(10)   # the last state changes

See docs/alerting.md for the rules, the webhook schema and adaptive thresholds.
"""

from __future__ import annotations

import socket

from opentelemetry.metrics import Meter

from aga_otel.alerts.manager import AlertManager
from aga_otel.alerts.model import Alert, AlertState
from aga_otel.alerts.rules import DEFAULT_RULES, effective_rules
from aga_otel.alerts.webhook import WebhookChannel
from aga_otel.config import ObservabilityConfig
from aga_otel.status import StatusBoard

__all__ = [
    "DEFAULT_RULES",
    "Alert",
    "AlertManager",
    "AlertState",
    "build_alert_manager",
    "effective_rules",
]


def build_alert_manager(
    config: ObservabilityConfig,
    status: StatusBoard,
    meter: Meter,
    *,
    service_instance_id: str | None = None,
) -> AlertManager:
    """The stack's alert engine for ``config``.

    Register the result with ``reader.add_consumer``. With ``alert_enabled`` false it has
    no rules and no webhook (inert, but the stack's ``alert_manager`` attribute still works).
    ``service_instance_id`` (the stack's generated id when the config has none) is sent in
    webhook bodies.
    """
    enabled = config.alert_enabled
    webhook = None
    if enabled and config.alert_webhook_url:
        service = {"name": config.service_name}
        instance = service_instance_id or config.service_instance_id
        if instance:
            service["instance_id"] = instance
        webhook = WebhookChannel(
            config.alert_webhook_url,
            config.alert_webhook_format,
            service,
            status,
            resend_interval=config.alert_resend_interval,
            generator_url=generator_url(config),
        )
    return AlertManager(
        effective_rules(config) if enabled else [],
        status,
        interval=config.alert_evaluation_interval,
        meter=meter,
        log_level=config.alert_log_level,
        webhook=webhook,
    )


def generator_url(config: ObservabilityConfig) -> str | None:
    """Where an alert comes from, for Alertmanager's ``generatorURL``: this process's health
    endpoint (whose ``alerts`` component reports the engine), when its port is fixed."""
    if not config.health_enabled or not config.health_port:
        return None
    host = config.health_host
    if host in ("", "0.0.0.0", "::"):
        host = socket.gethostname()
    elif ":" in host:
        host = f"[{host}]"
    scheme = "https" if config.server_tls_certfile else "http"
    return f"{scheme}://{host}:{config.health_port}{config.health_path}"
