"""``AgaInstrumentor``: aga-otel as an OpenTelemetry Python instrumentation.

Registered under the ``opentelemetry_instrumentor`` entry point ``aga``, so
``opentelemetry-instrument python serve.py`` instruments aga-core with the global providers
the command (or ``OTEL_CONFIG_FILE``'s declarative configuration) set up; in code::

    from aga_otel.instrumentation import AgaInstrumentor

    AgaInstrumentor().instrument(meter_provider=my_provider, health_port=8081)
    ...
    AgaInstrumentor().uninstrument()

Keyword arguments other than the providers are ``ObservabilityConfig`` fields; they win
over every other source (``OTEL_*``, ``AGA_OTEL_CONFIG``, aga-core's ``AGAConfig``).
Declarative configuration carries them in ``instrumentation/development: python: aga:``;
:attr:`AgaInstrumentor.configuration` is the dataclass the SDK checks their names against.

How plugins are found: aga-core's own hook (``AGAPlugin.__init__`` calls
``setup_observability``) reaches every future plugin, and builds the process's one stack
with the Instrumentor's settings and providers; plugins present before ``instrument()``
already joined a stack through that hook, which is rebuilt with the new settings, its buses
and bound plugin carried over. So there is never a second stack.

Providers: each of ``meter_provider``, ``logger_provider`` and ``tracer_provider`` is the one
passed, else the global one when it is the SDK's. The application's ``MeterProvider``'s readers get
AGA's metrics from aga-otel's own aggregations at their collections (``metrics/feed.py``:
nothing is recorded twice); aga-otel keeps its private meter provider for the Prometheus
endpoint, alerts and health. Log records (scope
``aga_otel.logs``) are emitted on the application's ``LoggerProvider``, and spans (with
``tracing_enabled``; scope ``aga_otel.tracing``) on its ``TracerProvider``, from the same
worker; the audit trail and local log lines stay on aga-otel's own logger provider. An
application provider replaces aga-otel's own OTLP exporter of its signal (nothing is
exported twice), and aga-otel never flushes or shuts it down: ``uninstrument()`` stops
aga-otel's stack only.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Collection
from typing import Any

from opentelemetry.instrumentation.instrumentor import BaseInstrumentor

from aga_otel import integration
from aga_otel.config import ConfigError, ObservabilityConfig

__all__ = ["AgaInstrumentor", "AgaInstrumentationConfiguration"]

logger = logging.getLogger("aga_otel.instrumentation")
PROVIDERS = ("meter_provider", "logger_provider", "tracer_provider")

# Every ObservabilityConfig field, optional: the SDK's declarative configuration builds
# this from the file's ``aga:`` mapping (an unknown name is rejected there) and passes the
# fields that are set to ``instrument()``; values are validated by ObservabilityConfig.
AgaInstrumentationConfiguration = dataclasses.make_dataclass(
    "AgaInstrumentationConfiguration",
    [(f.name, Any, None) for f in dataclasses.fields(ObservabilityConfig)],
)


def _global_sdk_providers() -> dict[str, Any]:
    """The global meter, logger and tracer providers that are the SDK's (an unset one is the
    API's proxy or no-op: None, so aga-otel's own pipeline carries that signal)."""
    from opentelemetry import metrics, trace
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.trace import TracerProvider

    from aga_otel.logs._sdk import LoggerProvider, get_logger_provider

    found = {
        "meter_provider": (metrics.get_meter_provider(), MeterProvider),
        "logger_provider": (get_logger_provider(), LoggerProvider),
        "tracer_provider": (trace.get_tracer_provider(), TracerProvider),
    }
    return {k: p if isinstance(p, sdk_type) else None for k, (p, sdk_type) in found.items()}


class AgaInstrumentor(BaseInstrumentor):
    """Instruments every aga-core plugin of the process (present and future)."""

    configuration = AgaInstrumentationConfiguration

    def instrumentation_dependencies(self) -> Collection[str]:
        # aga-core is not installable from the index these packages come from: declaring
        # it would make the auto-loader skip aga-otel. The hook finds aga-core at run time.
        return ()

    def _instrument(self, **kwargs: Any) -> None:
        given = {k: kwargs.pop(k, None) for k in PROVIDERS}
        settings = {k: v for k, v in kwargs.items() if v is not None}
        try:
            ObservabilityConfig.from_dict(settings)  # fail here, with the field named
        except ConfigError as exc:
            logger.error("aga-otel: instrumentation stayed off: %s", exc)
            return
        if None in given.values():
            defaults = _global_sdk_providers()
            given = {k: defaults[k] if p is None else p for k, p in given.items()}
        try:
            integration.instrument(settings, **given)
        except Exception as exc:  # the auto-loader re-raises: never stop the application
            logger.error("aga-otel: instrumentation failed: %s: %s", type(exc).__name__, exc)

    def _uninstrument(self, **kwargs: Any) -> None:
        integration.uninstrument()
