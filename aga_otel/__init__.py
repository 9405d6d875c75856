"""aga-otel: OpenTelemetry-native observability for aga-core.

Usage::

    from aga_otel import ObservabilityConfig, ObservabilityStack

    stack = ObservabilityStack(plugin.event_bus, ObservabilityConfig(prometheus_port=9464))
    stack.start()
    stack.bind_plugin(plugin)      # plugin-backed gauges and health checks
    ...                            # run inference; scrape http://localhost:9464/metrics
    stack.shutdown()
"""

from aga_otel._version import __version__
from aga_otel.config import AlertRuleConfig, ConfigError, ObservabilityConfig

__all__ = [
    "AlertRuleConfig",
    "ConfigError",
    "ObservabilityConfig",
    "ObservabilityStack",
    "__version__",
]


def __getattr__(name: str):
    # Imported lazily so that ``import aga_otel`` stays cheap and cycle-free.
    if name == "ObservabilityStack":
        from aga_otel.stack import ObservabilityStack

        return ObservabilityStack
    raise AttributeError(name)
