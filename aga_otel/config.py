"""``ObservabilityConfig``: the one source of truth for aga-otel's configuration.

Sources, highest precedence first: explicit arguments in code, the standard ``OTEL_*``
environment variables, a YAML/TOML config file, aga-core's ``AGAConfig``, defaults; below
all of them, prometheus_client's ``PROMETHEUS_MULTIPROC_DIR`` fills
``prometheus_multiprocess_dir`` (see :func:`aga_otel._config_sources.fallback_layer`).
``ObservabilityConfig(...)`` records which fields were passed explicitly; ``resolve()``
fills the others from the lower layers. Every value is validated up front and a bad one
raises :class:`ConfigError` naming the field, the value and what is accepted.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aga_otel._config_sources import env_layer, fallback_layer, file_layer
from aga_otel._validate import ConfigError, unknown_field, validate_config, validate_rule
from aga_otel.redaction import SENSITIVE_WORDS

__all__ = [
    "ALERT_METRICS",
    "MICROSECOND_METRICS",
    "AlertRuleConfig",
    "ConfigError",
    "ObservabilityConfig",
]

# Metrics an alert rule may watch (see aga_otel.alerts.signals for how each is computed).
# The unit is part of the name: latency without a suffix is in microseconds, as in
# aga-observability 1.0 (so 1.0 rules keep their meaning); ``_seconds`` names are seconds.
ALERT_METRICS = (
    "latency_p50", "latency_p95", "latency_p99",
    "latency_p50_seconds", "latency_p95_seconds", "latency_p99_seconds",
    "activation_rate", "gate_mean", "entropy_mean", "knowledge_utilization",
    "knowledge_count", "retrieval_failure_rate", "slot_change_rate", "events_dropped_rate",
)  # fmt: skip
MICROSECOND_METRICS = ("latency_p50", "latency_p95", "latency_p99")


@dataclass
class AlertRuleConfig:
    """An alert rule (aga-observability 1.0 fields, plus ``for_seconds`` and adaptive kind).

    ``kind="threshold"`` compares the metric with ``threshold``; ``kind="adaptive"`` learns
    a baseline over ``learning_seconds`` and fires when the metric deviates from it by more
    than ``sensitivity`` robust standard deviations in the direction of ``operator``.

    ``semantics="1.0"`` evaluates as aga-observability 1.0 did: its latest-value metrics
    (``gate_mean``, ``entropy_mean``, ``retrieval_failure_rate``, the plugin gauges) are
    read over the last evaluation interval, as the interval's extreme in the operator's
    direction, and a breach that persists fires again every ``cooldown_seconds``.
    ``"otel"`` (the default here) reads every metric over ``window_seconds`` and fires once
    per episode, then resolves. See docs/alerting.md.
    """

    name: str
    metric: str
    operator: str = ">"
    threshold: float = 0.0
    window_seconds: float = 60.0
    severity: str = "warning"
    message: str = "{name}: {metric}={value} (threshold {threshold})"
    cooldown_seconds: float = 300.0
    for_seconds: float = 0.0
    kind: str = "threshold"
    learning_seconds: float = 300.0
    sensitivity: float = 4.0
    semantics: str = "otel"

    def __post_init__(self) -> None:
        validate_rule(self, ALERT_METRICS, MICROSECOND_METRICS)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], where: str = "alert_rules") -> AlertRuleConfig:
        """A rule from a mapping; ``where`` names it in errors (``alert_rules[2]``)."""
        if not isinstance(d, Mapping):
            raise ConfigError(where, d, "a mapping of rule fields (name, metric, ...)")
        fields = dataclasses.fields(cls)
        names = {f.name for f in fields}
        unknown = sorted(set(d) - names, key=str)
        if unknown:
            raise unknown_field(f"{where}.{unknown[0]}", d[unknown[0]], f"one of {sorted(names)}")
        for f in fields:
            required = f.default is dataclasses.MISSING
            if required and f.name not in d:
                raise ConfigError(f"{where}.{f.name}", None, f"a {f.name} (required)")
        return cls(**dict(d))


@dataclass
class ObservabilityConfig:
    """Every setting of aga-otel. Field names of aga-observability 1.0 are kept."""

    enabled: bool = True
    # --- resource ----------------------------------------------------------------------
    service_name: str = "aga"
    service_instance_id: str | None = None  # generated per process when None
    resource_attributes: dict[str, str] = field(default_factory=dict)
    model_name: str | None = None  # resource attribute ``model`` (OTEL_RESOURCE_ATTRIBUTES model=)
    # --- metrics -------------------------------------------------------------------------
    prometheus_enabled: bool = True
    # Loopback by default (as the OTel Prometheus exporter): a container or a scraper on
    # another host sets 0.0.0.0 explicitly (deploy/kubernetes, collector/aga-otel.yaml).
    prometheus_host: str = "127.0.0.1"
    prometheus_port: int = 9464
    prometheus_prefix: str = "aga"
    prometheus_labels: dict[str, str] = field(default_factory=dict)
    prometheus_multiprocess_dir: str | None = None  # shared by a server's worker processes
    prometheus_multiprocess_interval: float = 1.0  # seconds between a worker's file writes
    per_layer_attributes: bool = True
    max_layers: int = 1024
    console_metrics: bool = False
    export_interval: float = 60.0  # seconds (OTEL_METRIC_EXPORT_INTERVAL is in ms)
    temporality_preference: str = "cumulative"
    process_metrics: bool = False  # process.cpu.time, process.memory.usage, threads, GC
    # explicit bucket bounds per histogram, e.g. {"forward_duration": [0.001, 0.01, 0.1]}
    histogram_buckets: dict[str, list[float]] = field(default_factory=dict)
    # --- OTLP ---------------------------------------------------------------------------
    otlp_endpoint: str | None = None
    otlp_metrics_endpoint: str | None = None
    otlp_logs_endpoint: str | None = None
    otlp_traces_endpoint: str | None = None
    otlp_protocol: str = "grpc"
    otlp_metrics_enabled: bool | None = None  # None: on when an endpoint is configured
    otlp_logs_enabled: bool | None = None
    otlp_headers: dict[str, str] = field(default_factory=dict)
    otlp_timeout: float = 10.0
    otlp_compression: str | None = None
    otlp_certificate: str | None = None
    otlp_client_key: str | None = None
    otlp_client_certificate: str | None = None
    otlp_insecure: bool | None = None
    # per-signal overrides of the settings above, e.g. {"logs": {"protocol": "grpc"}}
    otlp_signals: dict[str, dict[str, Any]] = field(default_factory=dict)
    # --- the bridge ---------------------------------------------------------------------
    queue_size: int = 65536
    audit_queue_size: int = 16384  # the audit lane: forward traffic cannot fill it
    shutdown_timeout: float = 5.0
    # --- logs ---------------------------------------------------------------------------
    log_enabled: bool = True
    log_format: str = "json"
    log_level: str = "INFO"
    log_file: str | None = None
    log_stderr: bool = False
    log_max_bytes: int = 100 * 1024 * 1024
    log_backup_count: int = 5
    # --- audit --------------------------------------------------------------------------
    audit_storage_backend: str = "memory"
    audit_storage_path: str = "aga_audit.db"
    audit_dsn: str | None = None  # postgresql backend: libpq URL/DSN (password via PG* env)
    audit_spill_dir: str = "aga_audit_spill"  # postgresql backend: outage spill, per instance
    audit_spill_max_bytes: int = 64 * 1024 * 1024
    audit_retention_days: float = 90
    audit_flush_interval: float = 10.0
    audit_batch_size: int = 100
    audit_redact_keys: tuple[str, ...] = SENSITIVE_WORDS
    audit_max_detail_bytes: int = 16384
    audit_required: bool = False  # an audit trail that cannot write fails readiness
    audit_hmac_key_file: str | None = None  # keyed (HMAC) chain; the key never enters the trail
    audit_hmac_key_env: str | None = None
    # --- alerts -------------------------------------------------------------------------
    alert_enabled: bool = True
    alert_rules: list[AlertRuleConfig] = field(default_factory=list)
    alert_default_rules: bool = True
    alert_webhook_url: str | None = None
    alert_webhook_format: str = "generic"
    alert_log_level: str = "WARNING"
    alert_evaluation_interval: float = 0.5  # a breach reaches callbacks within 1 s
    alert_resend_interval: float = 60.0  # the alertmanager format re-sends firing alerts
    # --- health -------------------------------------------------------------------------
    health_enabled: bool = True
    health_host: str = "127.0.0.1"  # loopback unless configured, as prometheus_host
    health_port: int = 8080
    health_path: str = "/health"
    health_verbose: bool = True  # False: ?verbose is ignored (no check data on the port)
    server_tls_certfile: str | None = None
    server_tls_keyfile: str | None = None
    # --- live dashboard (aga_otel/live, served on the health server's port) ---------------
    dashboard_enabled: bool = False
    dashboard_token: str | None = None
    # The audit tail (operations, errors, details) is on the page only with a token or this.
    dashboard_verbose: bool = False
    # --- traces -------------------------------------------------------------------------
    tracing_enabled: bool = False
    trace_forward_sample_rate: float = 0.0
    # gen_ai.retrieval.documents on retrieval spans: Opt-In, as the GenAI convention makes it
    # (also OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT=true / SPAN_ONLY / SPAN_AND_EVENT)
    trace_retrieval_documents: bool = False
    retrieval_data_source_id: str | None = None  # gen_ai.data_source.id on retrieval spans
    # --- knowledge attribution (docs/knowledge-attribution.md) ----------------------------
    knowledge_max_documents: int = 32  # fact ids/scores kept per retrieval span, log, audit row
    knowledge_ids_enabled: bool = True  # False: fact ids appear in no span, log or audit row

    def __post_init__(self) -> None:
        rules = [] if self.alert_rules is None else self.alert_rules
        if not isinstance(rules, (list, tuple)):
            raise ConfigError("alert_rules", rules, "a list of rules (mappings or AlertRuleConfig)")
        self.alert_rules = [
            r
            if isinstance(r, AlertRuleConfig)
            else AlertRuleConfig.from_dict(r, f"alert_rules[{i}]")
            for i, r in enumerate(rules)
        ]
        if isinstance(self.audit_redact_keys, list):
            self.audit_redact_keys = tuple(self.audit_redact_keys)
        validate_config(self)

    # --- construction from other sources ---------------------------------------------------
    @classmethod
    def field_names(cls) -> set[str]:
        return {f.name for f in dataclasses.fields(cls)}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> ObservabilityConfig:
        """Build from a mapping (explicit values); unknown keys are an error."""
        if not isinstance(d, Mapping):
            raise ConfigError("config", d, "a mapping of ObservabilityConfig fields")
        names = cls.field_names()
        for key in d:
            if key not in names:
                raise unknown_field(key, d[key], "a field of ObservabilityConfig")
        return cls(**dict(d))

    @classmethod
    def from_file(cls, path: str | os.PathLike) -> ObservabilityConfig:
        """Build from a YAML (.yaml/.yml) or TOML (.toml) file; values count as explicit."""
        return cls.from_dict(file_layer(Path(path)))

    @classmethod
    def from_aga_config(cls, aga_config: Any) -> ObservabilityConfig:
        """Map aga-core's AGAConfig observability fields (lowest layer above defaults)."""
        cfg = cls()
        cfg._explicit = frozenset()
        return cfg._with_layer(_aga_layer(aga_config), explicit=False)

    def resolve(
        self,
        env: Mapping[str, str] | None = None,
        config_file: str | os.PathLike | None = None,
    ) -> ObservabilityConfig:
        """A new config with non-explicit fields taken from ``OTEL_*`` env, then the file,
        then ``PROMETHEUS_MULTIPROC_DIR`` (for ``prometheus_multiprocess_dir`` only)."""
        env = os.environ if env is None else env
        cfg, file = self, {}
        if config_file is not None:
            file = file_layer(Path(config_file))
            cfg = cfg._with_layer(file, explicit=False)
        cfg = cfg._with_layer(env_layer(env, self.explicit_fields), explicit=False)
        taken = self.explicit_fields | frozenset(file)
        return cfg._with_layer(fallback_layer(env, taken), explicit=False)

    def _with_layer(self, layer: Mapping[str, Any], explicit: bool) -> ObservabilityConfig:
        keep = self.explicit_fields
        values = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        for key, value in layer.items():
            if key not in values:
                raise unknown_field(key, value, "a field of ObservabilityConfig")
            if key not in keep:
                values[key] = value
        new = type(self)(**values)  # keeps a subclass (aga_observability's 1.0 defaults)
        new._explicit = keep | (frozenset(layer) if explicit else frozenset())
        return new

    @property
    def explicit_fields(self) -> frozenset[str]:
        return getattr(self, "_explicit", frozenset())

    def replace(self, **changes: Any) -> ObservabilityConfig:
        """A copy with ``changes`` applied as explicit values."""
        return self._with_layer(changes, explicit=True)


def track_explicit_fields(cls: type) -> type:
    """Make ``cls(...)`` remember which fields the caller passed, so ``resolve()`` never
    overrides explicit code (also applied to aga_observability's 1.0 subclass)."""
    names = [f.name for f in dataclasses.fields(cls)]
    dataclass_init = cls.__init__

    def __init__(self, *args, **kwargs):
        dataclass_init(self, *args, **kwargs)
        self._explicit = frozenset(names[: len(args)]) | frozenset(kwargs)

    cls.__init__ = __init__  # type: ignore[method-assign]
    return cls


track_explicit_fields(ObservabilityConfig)


def _aga_layer(aga_config: Any) -> dict[str, Any]:
    """The AGAConfig fields aga-otel understands; missing or odd attributes are skipped."""
    mapping = {
        "observability_enabled": "enabled",
        "prometheus_enabled": "prometheus_enabled",
        "prometheus_port": "prometheus_port",
        "audit_storage_backend": "audit_storage_backend",
        "audit_retention_days": "audit_retention_days",
        "log_format": "log_format",
        "log_level": "log_level",
    }
    layer: dict[str, Any] = {}
    for src, dst in mapping.items():
        try:
            value = getattr(aga_config, src)
        except Exception:
            continue
        if value is not None:
            layer[dst] = value
    return layer
