"""The aga-observability 1.0 import path, served by aga-otel.

aga-core 4.4 runs ``from aga_observability import setup_observability`` at the end of
``AGAPlugin.__init__``; this module is what makes that zero-code hook start aga-otel. Code
written against aga-observability 1.0's README runs unchanged::

    from aga_observability import ObservabilityConfig, ObservabilityStack

    stack = ObservabilityStack(event_bus=plugin.event_bus, config=ObservabilityConfig())
    stack.start()
    stack.bind_plugin(plugin)
    ...
    stack.shutdown()

Every 1.0 module (``config``, ``stack``, ``integration``, ``prometheus_exporter``,
``grafana_dashboard``, ``alert_manager``, ``log_exporter``, ``audit_storage``, ``health``)
and name is here, each a thin face over aga-otel's own components. Where aga-otel differs
(metric names in seconds, the audit schema, resolved alerts) see docs/migration.md.
Do not install aga-observability next to aga-otel: both ship this package.
"""

from __future__ import annotations

import logging
from importlib import import_module

from aga_observability.config import AlertRuleConfig, ObservabilityConfig
from aga_observability.integration import (
    bind_plugin,
    get_global_stack,
    setup_observability,
    shutdown_observability,
)

__version__ = "1.0.0"  # the API version this package keeps; aga-otel's is aga_otel.__version__

__all__ = [
    "AlertManager",
    "AlertRule",
    "AlertRuleConfig",
    "AlertSeverity",
    "AuditStorageBackend",
    "FileAuditStorage",
    "GrafanaDashboardGenerator",
    "HealthChecker",
    "HealthStatus",
    "LogExporter",
    "ObservabilityConfig",
    "ObservabilityStack",
    "PrometheusExporter",
    "SQLiteAuditStorage",
    "bind_plugin",
    "get_global_stack",
    "setup_observability",
    "shutdown_observability",
]

# name -> module; imported on first use, like aga_otel itself: aga-core imports this
# package inside AGAPlugin.__init__, so the hook must stay cheap.
_LAZY = {
    "ObservabilityStack": "stack",
    "PrometheusExporter": "prometheus_exporter",
    "GrafanaDashboardGenerator": "grafana_dashboard",
    "AlertManager": "alert_manager",
    "AlertRule": "alert_manager",
    "AlertSeverity": "alert_manager",
    "LogExporter": "log_exporter",
    "AuditStorageBackend": "audit_storage",
    "FileAuditStorage": "audit_storage",
    "SQLiteAuditStorage": "audit_storage",
    "HealthChecker": "health",
    "HealthStatus": "health",
}


def __getattr__(name: str):
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'aga_observability' has no attribute {name!r}")
    return getattr(import_module(f"aga_observability.{module}"), name)


def _warn_if_original_installed() -> None:
    """Both distributions ship ``aga_observability``; whichever was installed last wins."""
    try:
        from importlib.metadata import PackageNotFoundError, distribution

        distribution("aga-observability")
    except PackageNotFoundError:
        return
    except Exception:  # metadata lookups must never break the import
        return
    logging.getLogger("aga_otel.integration").warning(
        "aga-otel: aga-observability is installed too; both provide the aga_observability "
        "module. Uninstall it: pip uninstall aga-observability (see docs/migration.md)"
    )


_warn_if_original_installed()
