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

Metric units changed (latency in seconds, ``_seconds`` suffix); see docs/migration.md.
Do not install aga-observability next to aga-otel: both ship this package.
"""

from __future__ import annotations

import logging

from aga_otel.config import AlertRuleConfig, ObservabilityConfig
from aga_otel.integration import (
    bind_plugin,
    get_global_stack,
    setup_observability,
    shutdown_observability,
)

__all__ = [
    "AlertRuleConfig",
    "ObservabilityConfig",
    "ObservabilityStack",
    "bind_plugin",
    "get_global_stack",
    "setup_observability",
    "shutdown_observability",
]


def __getattr__(name: str):
    # Lazy, like aga_otel itself: importing the hook must stay cheap for aga-core.
    if name == "ObservabilityStack":
        from aga_otel.stack import ObservabilityStack

        return ObservabilityStack
    raise AttributeError(f"module 'aga_observability' has no attribute {name!r}")


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
