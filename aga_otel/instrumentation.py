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
with the Instrumentor's settings and meter provider; plugins present before ``instrument()``
already joined a stack through that hook, which is rebuilt with the new settings, its buses
and bound plugin carried over. So there is never a second stack.

Providers: AGA's metrics go through the application's ``MeterProvider`` (the one passed, else
the global one when it is an SDK provider), recorded per event on aga-otel's worker; aga-otel
keeps its private provider for the Prometheus endpoint, alerts and health. Log records and
spans still go through aga-otel's own pipelines (their OTLP settings); ``logger_provider``
and ``tracer_provider`` are accepted and reported as not used yet.
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

# Every ObservabilityConfig field, optional: the SDK's declarative configuration builds
# this from the file's ``aga:`` mapping (an unknown name is rejected there) and passes the
# fields that are set to ``instrument()``; values are validated by ObservabilityConfig.
AgaInstrumentationConfiguration = dataclasses.make_dataclass(
    "AgaInstrumentationConfiguration",
    [(f.name, Any, None) for f in dataclasses.fields(ObservabilityConfig)],
)


def _global_sdk_meter_provider() -> Any:
    """The global MeterProvider if it is the SDK's (unset, it is the API's no-op proxy)."""
    from opentelemetry import metrics
    from opentelemetry.sdk.metrics import MeterProvider

    provider = metrics.get_meter_provider()
    return provider if isinstance(provider, MeterProvider) else None


class AgaInstrumentor(BaseInstrumentor):
    """Instruments every aga-core plugin of the process (present and future)."""

    configuration = AgaInstrumentationConfiguration

    def instrumentation_dependencies(self) -> Collection[str]:
        # aga-core is not installable from the index these packages come from: declaring
        # it would make the auto-loader skip aga-otel. The hook finds aga-core at run time.
        return ()

    def _instrument(self, **kwargs: Any) -> None:
        meter_provider = kwargs.pop("meter_provider", None)
        unused = [k for k in ("logger_provider", "tracer_provider") if kwargs.pop(k, None)]
        settings = {k: v for k, v in kwargs.items() if v is not None}
        try:
            ObservabilityConfig.from_dict(settings)  # fail here, with the field named
        except ConfigError as exc:
            logger.error("aga-otel: instrumentation stayed off: %s", exc)
            return
        if meter_provider is None:
            meter_provider = _global_sdk_meter_provider()
        if unused:
            logger.info(
                "aga-otel: %s not used: log records and spans go through aga-otel's own "
                "pipelines (their otlp_* settings)", " and ".join(unused),
            )  # fmt: skip
        try:
            integration.instrument(settings, meter_provider)
        except Exception as exc:  # the auto-loader re-raises: never stop the application
            logger.error("aga-otel: instrumentation failed: %s: %s", type(exc).__name__, exc)

    def _uninstrument(self, **kwargs: Any) -> None:
        integration.uninstrument()
