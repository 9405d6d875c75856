"""``ObservabilityStack``: the lifecycle that wires bus → bridge → OTel SDK → sinks."""

from __future__ import annotations

import logging
import os
import threading
import time
import uuid
import weakref
from collections.abc import Sequence
from typing import Any

from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import ConsoleMetricExporter, MetricExporter, MetricReader
from opentelemetry.sdk.resources import Resource

from aga_otel import semconv as sc
from aga_otel._version import __version__
from aga_otel.alerts import build_alert_manager
from aga_otel.alerts.inputs import AlertInputs
from aga_otel.bridge import EventBridge
from aga_otel.config import ObservabilityConfig
from aga_otel.exporters.multiprocess import merged_snapshot, start_worker_files
from aga_otel.exporters.otlp import (
    ExporterConsumer,
    create_metric_exporter,
    other_metric_outputs,
    require_grpc,
    signal_enabled,
    signal_endpoint,
    signal_setting,
)
from aga_otel.exporters.prometheus import PrometheusEndpoint
from aga_otel.forking import after_fork_in_child, reinit_in_child
from aga_otel.health import build_health
from aga_otel.httpserver import exposure, url_host
from aga_otel.live import attach_dashboard
from aga_otel.live.history import HistorySampler, producers_snapshot
from aga_otel.logs import build_log_pipeline
from aga_otel.metrics.app_provider import app_gauges_follow
from aga_otel.metrics.build import build_metrics
from aga_otel.metrics.gauges import register_gauges, register_process_metrics
from aga_otel.metrics.reader import SharedMetricReader
from aga_otel.metrics.recorder import create_instrument
from aga_otel.redaction import redact_text
from aga_otel.status import StatusBoard, component_stats, optional_component
from aga_otel.tracing import build_tracing

logger = logging.getLogger("aga_otel")


class ObservabilityStack:
    """Turns a contract EventBus's events into OpenTelemetry metrics, logs and more.

    ``config`` is resolved against the ``OTEL_*`` environment at construction (explicit
    fields win); invalid values raise :class:`aga_otel.ConfigError` here, before anything
    starts. Nothing installs a global OTel provider.

    ``meter_provider``: an application's own ``MeterProvider`` (the Instrumentor passes
    it): its readers get AGA's metrics from the stack's aggregations at their collections (see
    :mod:`aga_otel.metrics.app_provider`), while aga-otel's private provider keeps feeding
    the Prometheus endpoint, alerts and health. ``logger_provider``/``tracer_provider``: the
    application's own, which carry aga-otel's log records and spans (the audit trail and
    local log lines stay on aga-otel's provider). An application provider replaces aga-otel's
    OTLP exporter of its signal (no double export) and is never flushed or shut down here.
    """

    def __init__(
        self,
        event_bus: Any,
        config: ObservabilityConfig | None = None,
        *,
        env: dict[str, str] | None = None,
        metric_exporters: Sequence[MetricExporter] = (),
        metric_readers: Sequence[MetricReader] = (),
        meter_provider: Any = None,
        logger_provider: Any = None,
        tracer_provider: Any = None,
    ) -> None:
        config = config if config is not None else ObservabilityConfig()
        self.config = config.resolve(env=env)
        if self.config.enabled:
            provided = {"metrics": meter_provider, "logs": logger_provider,
                        "traces": tracer_provider}  # fmt: skip
            require_grpc(self.config, frozenset(k for k, v in provided.items() if v is not None))
        self.event_bus = event_bus
        self.status = StatusBoard()
        self.plugin: Any = None
        self.prometheus: PrometheusEndpoint | None = None
        self.worker_files: Any = None  # multi-worker Prometheus (prometheus_multiprocess_dir)
        self.log_exporter: Any = None
        self.audit_storage: Any = None
        self.alert_manager: Any = None
        self.alert_inputs: AlertInputs | None = None  # what the alert engine reads directly
        self.health: Any = None
        self.tracing: Any = None
        self.dashboard_history: HistorySampler | None = None  # the page's points, unwatched
        self.bridge: EventBridge | None = None
        self.meter_provider: MeterProvider | None = None
        self.reader: SharedMetricReader | None = None
        self.resource: Resource | None = None
        self._readings: Any = None  # the gauges' plugin readings (cached get_diagnostics)
        self._extra_exporters = list(metric_exporters)
        self._extra_readers = list(metric_readers)
        self._app_meter_provider = meter_provider
        self._app_logger, self._app_tracer = logger_provider, tracer_provider
        self._lock = threading.RLock()
        self._started = False
        self._stopped = False
        self.instance_id = self.config.service_instance_id or str(uuid.uuid4())

    # --- lifecycle ----------------------------------------------------------------------
    def start(self) -> ObservabilityStack:
        with self._lock:
            if self._started:
                return self
            self._started = True
            if not self.config.enabled:
                logger.info(
                    "aga-otel: disabled by configuration (enabled=false / OTEL_SDK_DISABLED)"
                )
                return self
            self._build()
            self.bridge.subscribe(self.event_bus)
            if hasattr(os, "register_at_fork"):
                ref = weakref.ref(self)
                os.register_at_fork(after_in_child=lambda: reinit_in_child(ref))
            logger.info("aga-otel %s started: %s", __version__, self.describe_endpoints())
            return self

    def _build(self, child: bool = False) -> None:
        """Create every component; ``child``: in a forked child, bind no server ports."""
        cfg = self.config
        self.resource = Resource.create({
            **cfg.resource_attributes,
            **({sc.RESOURCE_MODEL: cfg.model_name} if cfg.model_name else {}),
            "service.name": cfg.service_name,
            "service.instance.id": self.instance_id,
            "telemetry.distro.name": "aga-otel",
            "telemetry.distro.version": __version__,
        })  # fmt: skip
        parts = build_metrics(cfg, self.resource, self._extra_readers, self._app_meter_provider)
        self.meter_provider, self.meter, self.reader = parts.provider, parts.meter, parts.reader
        recorder, sinks, app_meter = parts.recorder, parts.sinks, parts.app_meter
        # The log pipeline always exists: audit events reach the audit trail even when
        # log records are off.
        self.log_exporter = optional_component("logs", self.status, lambda: build_log_pipeline(
            cfg, self.status, self.resource, app_provider=self._app_logger, model=self._model))  # fmt: skip
        if self.log_exporter is not None:
            sinks.append(self.log_exporter)
            self.audit_storage = self.log_exporter.audit_store
        self.tracing = optional_component("traces", self.status, lambda: build_tracing(
            cfg, self.status, self.resource, app_provider=self._app_tracer, model=self._model))  # fmt: skip
        if self.tracing is not None:
            sinks.append(self.tracing)
        if cfg.dashboard_enabled:  # last: it reads what the recorder just aggregated
            self.dashboard_history = HistorySampler(producers_snapshot(self.reader))
            sinks.append(self.dashboard_history)
        self.bridge = EventBridge(
            sinks, cfg.queue_size, self.status, capture_context=cfg.tracing_enabled,
            rare_queue_size=cfg.audit_queue_size,
        )  # fmt: skip
        plugin, stats = (lambda: self.plugin), self.bridge.stats
        self._readings = register_gauges(self.meter, plugin, recorder.activation, stats)
        self.alert_inputs = AlertInputs(
            forward=recorder.forward, recorder=recorder, activation=recorder.activation,
            readings=self._readings, bridge=self.bridge,
        )  # fmt: skip
        # An idle process reuses its shared snapshot: no events, no collection work.
        bridge = self.bridge
        self.reader.set_change_token(lambda: bridge.handed_over)
        self.reader.set_refresh(bridge.sync)
        if app_meter is not None:
            app_gauges_follow(self._app_meter_provider, app_meter, self, recorder.activation)
        if cfg.process_metrics:
            register_process_metrics(self.meter)
        failures = create_instrument(self.meter, sc.BY_KEY["export_failures"])
        failures.add(0, {sc.ATTR_EXPORTER: "otlp"})  # the series exists from the start
        # Every reporter (logs, spans, files, webhook, audit) counts into the same series.
        self.status.set_failure_counter(failures)
        self._start_local_consumers(child)
        self._start_metric_sinks(failures, child)
        self.bridge.start()

    def _start_local_consumers(self, child: bool) -> None:
        """Alerts and health run on the shared reader's schedule and read their inputs from
        the components (no reader of their own, no collection)."""
        cfg = self.config
        self.alert_manager = optional_component(
            "alerts",
            self.status,
            lambda: build_alert_manager(
                cfg, self.status, self.meter, service_instance_id=self.instance_id
            ),
        )
        if self.alert_manager is not None and cfg.alert_enabled:
            self.alert_manager.bind_inputs(self.alert_inputs)
            self.reader.add_consumer(self.alert_manager)
            self._route_alerts_to_logs()
        if cfg.health_enabled:
            self.health = optional_component(
                "health",
                self.status,
                lambda: build_health(
                    cfg,
                    self.status,
                    self.meter,
                    plugin=lambda: self.plugin,
                    bridge_stats=self.bridge.stats,
                    ready=lambda: self.ready,
                ),
            )
            if self.health is not None:
                self.reader.add_consumer(self.health)
                if not child:  # a forked child never rebinds the parent's port
                    self.health.start_server()
                    attach_dashboard(self)  # issue 17: /dashboard when dashboard_enabled

    def _route_alerts_to_logs(self) -> None:
        """Firing and resolved alerts of this stack's engine become log records of this
        stack's pipeline: a callback, so two stacks in one process never see each other's."""
        if self.log_exporter is not None:
            self.alert_manager.add_callback(self.log_exporter.record_alert)

    def _start_metric_sinks(self, failures, child: bool) -> None:
        cfg, reader = self.config, self.reader
        # Multi-worker mode: every process writes its file, the one on the port merges them.
        self.worker_files = files = start_worker_files(cfg, reader, self.status)
        snapshot = (
            merged_snapshot(files, reader.shared_snapshot)
            if files is not None
            else reader.shared_snapshot
        )
        if cfg.prometheus_enabled and not child:
            self.prometheus = PrometheusEndpoint(
                snapshot, self.status, cfg.prometheus_host, cfg.prometheus_port,
                cfg.prometheus_labels, cfg.server_tls_certfile, cfg.server_tls_keyfile,
                cfg.prometheus_prefix, other_metric_outputs(cfg), workers=files,
            )  # fmt: skip
            self.prometheus.start()
        # Local consumers first, remote ones last: shutdown follows this order.
        if cfg.console_metrics:
            reader.add_consumer(
                ExporterConsumer(
                    "console", ConsoleMetricExporter(), cfg.export_interval, self.status, failures
                )
            )
        for i, exporter in enumerate(self._extra_exporters):
            reader.add_consumer(
                ExporterConsumer(f"custom{i}", exporter, cfg.export_interval, self.status, failures)
            )
        # The application's MeterProvider exports AGA's metrics: no second OTLP push of ours.
        if signal_enabled(cfg, "metrics") and self._app_meter_provider is None:
            try:
                exporter = create_metric_exporter(cfg)
            except Exception as exc:
                reason = redact_text(str(exc))
                logger.error("aga-otel: OTLP metrics exporter could not be created: %s", reason)
                self.status.failure("metrics.otlp", f"not created: {reason}")
            else:
                reader.add_consumer(ExporterConsumer(
                    "otlp", exporter, cfg.export_interval, self.status, failures,
                    cfg.temporality_preference, signal_setting(cfg, "metrics", "timeout"),
                    target=signal_endpoint(cfg, "metrics") or "default OTLP endpoint",
                ))  # fmt: skip

    def _model(self) -> str | None:
        """The bound plugin's ``model_type`` for records and spans (the gauges' cached read)."""
        return None if self._readings is None else self._readings.model()

    def bind_plugin(self, plugin: Any) -> None:
        """Make plugin-backed gauges and health checks real (they report nothing before)."""
        self.plugin = plugin
        if self.reader is not None:
            self.reader.invalidate()  # the next read shows the plugin's gauges

    def add_event_bus(self, bus: Any) -> None:
        """Subscribe one more contract bus (e.g. a second AGAPlugin) to this stack."""
        if self.bridge is not None:
            self.bridge.subscribe(bus)

    @property
    def ready(self) -> bool:
        """Providers set up and at least one bus subscribed."""
        return self.meter_provider is not None and bool(self.bridge and self.bridge.subscribed)

    def force_flush(self, timeout: float = 10.0) -> bool:
        """Process queued events, write the audit backlog and queued records, and hand every
        consumer a fresh snapshot now; True when every queued event was processed."""
        if self.bridge is None:
            return True
        deadline = time.monotonic() + timeout
        drained = self.bridge.drain(timeout)
        # Sinks write what they were handed: the audit backlog, log records, spans (an
        # unreachable exporter reports on its own status; the return value is the drain's).
        for sink in (self.log_exporter, self.tracing):
            if sink is not None:
                try:
                    sink.flush(max(0.05, deadline - time.monotonic()))
                except Exception as exc:
                    logger.warning("aga-otel: flush of %s failed: %s", sink.name, exc)
        self.reader.flush_consumers(max(0.05, deadline - time.monotonic()))
        return drained

    def shutdown(self, timeout: float | None = None) -> None:
        """Unsubscribe, drain, flush and stop every component within ``timeout`` seconds.

        Components stop one by one, local ones first, each within what is left of the
        deadline, so a black-holed OTLP endpoint cannot block the rest.
        """
        with self._lock:
            if self._stopped or not self._started:
                self._stopped = True
                return
            self._stopped = True
        timeout = self.config.shutdown_timeout if timeout is None else timeout
        deadline = time.monotonic() + timeout

        def left() -> float:
            return max(0.05, deadline - time.monotonic())

        if self.bridge is not None:
            # The worker stops first (nothing feeds a stage after it shut down), with half
            # the budget: the other half is for the stages' final writes.
            self.bridge.stop(left() / 2)
        if self.prometheus is not None:
            self.prometheus.shutdown(left())
        if self.reader is not None:
            self.reader.shutdown_consumers(left())
        if self.health is not None:  # again, directly: its consumer thread may be abandoned
            self.health.shutdown(left())
        if self.log_exporter is not None:
            try:
                self.log_exporter.shutdown(left())
            except Exception as exc:
                logger.warning("aga-otel: log pipeline shutdown: %s", exc)
        if self.tracing is not None:  # span export only: remote, after the audit trail
            self.tracing.shutdown(left())
        if self.meter_provider is not None:
            try:
                self.meter_provider.shutdown(timeout_millis=left() * 1000)
            except Exception as exc:  # raises past its deadline; nothing else depends on it
                logger.warning("aga-otel: meter provider shutdown: %s", exc)
        logger.info("aga-otel stopped")

    def _after_fork_in_child(self) -> None:
        """Re-initialise in a forked child (see :func:`aga_otel.forking.after_fork_in_child`)."""
        after_fork_in_child(self)

    def generate_dashboard(self, path: str | os.PathLike | None = None) -> dict:
        """The bundled Grafana dashboard (the JSON committed in ``dashboards/``)."""
        from aga_otel.dashboards import generate_dashboard

        return generate_dashboard(path, prefix=self.config.prometheus_prefix)

    # --- introspection ---------------------------------------------------------------------
    def describe_endpoints(self) -> str:
        parts = []
        if self.prometheus is not None and self.prometheus.port is not None:
            host = self.prometheus.host
            parts.append(
                f"metrics http://{url_host(host)}:{self.prometheus.port}/metrics ({exposure(host)})"
            )
        health_port = getattr(self.health, "port", None)
        if health_port is not None:
            host = self.config.health_host
            parts.append(f"health http://{url_host(host)}:{health_port} ({exposure(host)})")
        if self._app_meter_provider is not None:
            parts.append("the application's MeterProvider")
        elif signal_enabled(self.config, "metrics"):
            parts.append(f"OTLP/{signal_setting(self.config, 'metrics', 'protocol')} push")
        return ", ".join(parts) or "no metrics endpoint"

    def get_stats(self) -> dict:
        bridge = self.bridge.stats() if self.bridge else {}
        return {
            "version": __version__,
            "enabled": self.config.enabled,
            "running": self._started and not self._stopped and self.bridge is not None,
            "pid": os.getpid(),
            "service_instance_id": self.instance_id,
            "bridge": bridge,
            "prometheus_port": self.prometheus.port if self.prometheus else None,
            "components": self.status.snapshot(),
            "plugin_bound": self.plugin is not None,
            "logs": component_stats(self.log_exporter),
            "alerts": component_stats(self.alert_manager),
            "traces": component_stats(self.tracing),
        }
