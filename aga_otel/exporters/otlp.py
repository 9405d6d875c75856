"""OTLP exporters (gRPC and HTTP/protobuf) built from ``ObservabilityConfig``.

Each signal's exporter gets its own settings: ``otlp_signals[<signal>][<name>]`` if set
(the per-signal ``OTEL_EXPORTER_OTLP_<SIGNAL>_*`` variables land there), else the shared
``otlp_<name>``. What neither sets is passed as ``None``, so the OTel exporter applies its
own defaults, as the SDK's exporters fall back (per-signal value, else the general one).
"""

from __future__ import annotations

import logging
from typing import Any

from opentelemetry.metrics import Counter
from opentelemetry.sdk.metrics.export import MetricExporter, MetricExportResult, MetricsData

from aga_otel._validate import ConfigError
from aga_otel.exporters.reporting import ExportReporter
from aga_otel.exporters.temporality import DeltaState
from aga_otel.redaction import redact_loggers
from aga_otel.status import StatusBoard

logger = logging.getLogger(__name__)

_PATHS = {"metrics": "/v1/metrics", "logs": "/v1/logs", "traces": "/v1/traces"}
# The OTLP exporters (and urllib3 below them) log the request URL when an export fails.
_URL_LOGGERS = (
    "opentelemetry.exporter.otlp.proto.grpc.exporter",
    "opentelemetry.exporter.otlp.proto.grpc.metric_exporter",
    "opentelemetry.exporter.otlp.proto.grpc.trace_exporter",
    "opentelemetry.exporter.otlp.proto.http._common",
    "opentelemetry.exporter.otlp.proto.http._log_exporter",
    "opentelemetry.exporter.otlp.proto.http.metric_exporter",
    "opentelemetry.exporter.otlp.proto.http.trace_exporter",
    "opentelemetry.exporter.otlp.common.http",
    "urllib3.connectionpool",
)


def signal_setting(config: Any, signal: str, name: str) -> Any:
    """``signal``'s value of the OTLP setting ``name`` (``protocol``, ``headers``, ...)."""
    own = config.otlp_signals.get(signal) or {}
    return own[name] if name in own else getattr(config, f"otlp_{name}")


def signal_endpoint(config: Any, signal: str) -> str | None:
    """The endpoint for ``signal``: per-signal setting as is, else the base endpoint
    (with ``/v1/<signal>`` appended for HTTP, as the OTLP exporter spec says)."""
    specific = getattr(config, f"otlp_{signal}_endpoint")
    if specific:
        return specific
    base = config.otlp_endpoint
    if not base:
        return None
    if signal_setting(config, signal, "protocol") == "http/protobuf":
        return base.rstrip("/") + _PATHS[signal]
    return base


GRPC_EXTRA = "pip install 'aga-otel[grpc]'"


def grpc_signals(config: Any, provided: frozenset[str] = frozenset()) -> list[str]:
    """The signals whose OTLP exporter aga-otel builds over gRPC (``provided``: signals an
    application provider carries instead; traces only with ``tracing_enabled``)."""
    out = []
    for signal in ("metrics", "logs", "traces"):
        if signal in provided or not signal_enabled(config, signal):
            continue
        if signal == "logs" and not config.log_enabled:
            continue
        if signal == "traces" and not config.tracing_enabled:
            continue
        if signal_setting(config, signal, "protocol") == "grpc":
            out.append(signal)
    return out


def require_grpc(config: Any, provided: frozenset[str] = frozenset()) -> None:
    """Raise :class:`ConfigError` when a signal is exported over gRPC and the gRPC OTLP
    exporter (an extra: it brings grpcio) is not installed.

    A start-up error rather than a degraded exporter: the installation cannot do what the
    configuration asks, before anything has run (as a postgresql backend without psycopg).
    """
    signals = grpc_signals(config, provided)
    if not signals:
        return
    try:
        import grpc  # noqa: F401
        import opentelemetry.exporter.otlp.proto.grpc  # noqa: F401
    except ImportError:
        own = [s for s in signals if "protocol" in (config.otlp_signals.get(s) or {})]
        field = f"otlp_signals.{own[0]}.protocol" if own else "otlp_protocol"
        raise ConfigError(
            field,
            "grpc",
            f"http/protobuf; grpc (used by {', '.join(signals)}) needs the gRPC OTLP "
            f"exporter: {GRPC_EXTRA}",
        ) from None


def signal_enabled(config: Any, signal: str) -> bool:
    flag = getattr(config, f"otlp_{signal}_enabled", None)
    has_endpoint = signal_endpoint(config, signal) is not None
    return has_endpoint if flag is None else bool(flag)


def other_metric_outputs(config: Any) -> str:
    """What still carries metrics when the Prometheus endpoint is down (for its log line)."""
    protocol = signal_setting(config, "metrics", "protocol")
    outputs = [f"OTLP ({protocol})"] if signal_enabled(config, "metrics") else []
    if config.console_metrics:
        outputs.append("the console")
    if outputs:
        return "metrics stay available over " + " and ".join(outputs)
    return (
        "no other metrics exporter is configured, so metrics are not exported "
        "(alerts and health still evaluate them in-process)"
    )


def exporter_kwargs(config: Any, signal: str) -> dict[str, Any]:
    """Keyword arguments for the OTLP ``signal`` exporter of that signal's protocol."""
    redact_loggers(*_URL_LOGGERS)

    def get(name: str) -> Any:
        return signal_setting(config, signal, name)

    kw: dict[str, Any] = {
        "endpoint": signal_endpoint(config, signal),
        "headers": dict(get("headers")) or None,
        "timeout": get("timeout"),
    }
    comp = get("compression")
    if get("protocol") == "grpc":
        import grpc

        if comp is not None:
            kw["compression"] = {
                "none": grpc.Compression.NoCompression,
                "gzip": grpc.Compression.Gzip,
                "deflate": grpc.Compression.Deflate,
            }[comp]
        kw["insecure"] = get("insecure")
        if get("certificate") or get("client_certificate"):
            kw["credentials"] = _grpc_credentials(get)
    else:
        from opentelemetry.exporter.otlp.proto.http import Compression

        if comp is not None:
            kw["compression"] = Compression(comp)
        kw["certificate_file"] = get("certificate")
        kw["client_key_file"] = get("client_key")
        kw["client_certificate_file"] = get("client_certificate")
    return kw


def _grpc_credentials(get):
    import grpc

    def read(path: str | None) -> bytes | None:
        if not path:
            return None
        with open(path, "rb") as f:
            return f.read()

    return grpc.ssl_channel_credentials(
        root_certificates=read(get("certificate")),
        private_key=read(get("client_key")),
        certificate_chain=read(get("client_certificate")),
    )


def create_metric_exporter(config: Any) -> MetricExporter:
    kw = exporter_kwargs(config, "metrics")
    if signal_setting(config, "metrics", "protocol") == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter
    else:
        from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
    return OTLPMetricExporter(**kw)


def create_log_exporter(config: Any):
    kw = exporter_kwargs(config, "logs")
    if signal_setting(config, "logs", "protocol") == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter
    else:
        from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
    return OTLPLogExporter(**kw)


def create_span_exporter(config: Any):
    kw = exporter_kwargs(config, "traces")
    if signal_setting(config, "traces", "protocol") == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
    else:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    return OTLPSpanExporter(**kw)


class ExporterConsumer:
    """A MetricsConsumer pushing snapshots through any OTel ``MetricExporter``.

    Outcomes go to an :class:`~aga_otel.exporters.reporting.ExportReporter` (status board
    ``metrics.<name>``, ``aga_otel_export_failures_total{exporter=<name>}``, one log line
    per outage); ``target`` (the endpoint, redacted there) is only shown. The exporter's
    own timeout bounds every call.
    """

    exemplars = True  # gets a snapshot of its own, with the exemplars of its interval

    def __init__(
        self,
        name: str,
        exporter: MetricExporter,
        interval: float,
        status: StatusBoard,
        failures: Counter | None = None,
        temporality: str = "cumulative",
        timeout: float = 10.0,
        target: str = "",
    ) -> None:
        self.name = name
        self.exporter = exporter
        self.interval = interval
        self.status = status
        self.timeout = timeout
        # Delta: the reader's snapshots for this consumer come as deltas (metrics/reader.py).
        self.delta = DeltaState() if temporality in ("delta", "lowmemory") else None
        self.component = f"metrics.{name}"
        self.reporter = ExportReporter(
            status, self.component, f"{name} metrics export", target,
            exporter=name, failures=failures,
            while_failing="the next export after recovery carries the cumulative totals"
            if self.delta is None
            else "the deltas of failed exports are lost",
        )  # fmt: skip
        self.exports = 0

    def consume(self, metrics: MetricsData) -> None:
        try:
            result = self.exporter.export(metrics, timeout_millis=self.timeout * 1000)
            ok = result is MetricExportResult.SUCCESS
            detail = "" if ok else "exporter returned FAILURE"
        except Exception as exc:  # exporters should not raise, but never trust it
            ok, detail = False, f"{type(exc).__name__}: {exc}"
        if ok:
            self.exports += 1
            self.reporter.succeeded(1, f"{self.exports} exports")
        else:
            self.reporter.failed_with(1, detail)

    def shutdown(self, timeout: float) -> None:
        try:
            self.exporter.shutdown(timeout_millis=timeout * 1000)
        except TypeError:
            self.exporter.shutdown()
