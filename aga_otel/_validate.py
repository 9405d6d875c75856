"""Up-front validation of configuration values: every error names field, value, accepted."""

from __future__ import annotations

import re
from typing import Any

from aga_otel._checks import (  # noqa: F401 - ConfigError, unknown_field: imported from here
    ConfigError,
    _check,
    _is_bool,
    _is_num,
    _is_port,
    _is_str_map,
    unknown_field,
)
from aga_otel.redaction import redact_headers, redact_url

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
LOG_FORMATS = ("json", "text")
AUDIT_BACKENDS = ("memory", "file", "sqlite", "postgresql")
OTLP_PROTOCOLS = ("grpc", "http/protobuf")
COMPRESSIONS = (None, "none", "gzip", "deflate")
OTLP_SIGNALS = ("metrics", "logs", "traces")
# Settings of ``otlp_signals[<signal>]``: each overrides ``otlp_<name>`` for that signal only.
OTLP_SIGNAL_SETTINGS = (
    "protocol", "headers", "timeout", "compression",
    "certificate", "client_key", "client_certificate", "insecure",
)  # fmt: skip
TEMPORALITIES = ("cumulative", "delta", "lowmemory")
WEBHOOK_FORMATS = ("generic", "slack", "alertmanager")
OPERATORS = (">", "<", ">=", "<=", "==")
SEVERITIES = ("info", "warning", "critical")
RULE_KINDS = ("threshold", "adaptive")
MAX_DOCUMENTS = 1000  # upper bound of knowledge_max_documents: keeps spans and rows small
_TOKEN = re.compile(r"[A-Za-z0-9._~-]{8,256}")
RULE_SEMANTICS = ("otel", "1.0")
# prometheus_prefix replaces "aga" in AGA's own metric names on the Prometheus endpoint.
PREFIX_PATTERN = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")


def validate_rule(rule: Any, metrics: tuple[str, ...], microseconds: tuple[str, ...] = ()) -> None:
    f = f"alert_rules[{rule.name!r}]"
    _check(
        isinstance(rule.name, str) and rule.name.strip() != "",
        "alert_rules.name",
        rule.name,
        "a non-empty string",
    )
    _check(rule.metric in metrics, f + ".metric", rule.metric, ", ".join(metrics))
    _check(rule.operator in OPERATORS, f + ".operator", rule.operator, " ".join(OPERATORS))
    _check(_is_num(rule.threshold), f + ".threshold", rule.threshold, "a finite number")
    _check(
        _is_num(rule.window_seconds) and rule.window_seconds > 0,
        f + ".window_seconds",
        rule.window_seconds,
        "a number of seconds > 0",
    )
    _check(rule.severity in SEVERITIES, f + ".severity", rule.severity, ", ".join(SEVERITIES))
    _check(isinstance(rule.message, str), f + ".message", rule.message, "a format string")
    for name in ("cooldown_seconds", "for_seconds"):
        v = getattr(rule, name)
        _check(_is_num(v) and v >= 0, f"{f}.{name}", v, "a number of seconds >= 0")
    _check(rule.kind in RULE_KINDS, f + ".kind", rule.kind, ", ".join(RULE_KINDS))
    _check(rule.semantics in RULE_SEMANTICS, f + ".semantics", rule.semantics, "otel, 1.0")
    # A sub-microsecond latency threshold is a threshold written in seconds: refuse it
    # rather than read 0.001 as 1 ns.
    _check(
        rule.metric not in microseconds or rule.threshold == 0 or abs(rule.threshold) >= 1,
        f + ".threshold",
        rule.threshold,
        f"microseconds for {rule.metric} (aga-observability 1.0 units), e.g. 1000 for 1 ms; "
        f"for seconds use {rule.metric}_seconds",
    )
    _check(
        _is_num(rule.learning_seconds) and rule.learning_seconds > 0,
        f + ".learning_seconds",
        rule.learning_seconds,
        "a number of seconds > 0",
    )
    _check(
        _is_num(rule.sensitivity) and rule.sensitivity > 0,
        f + ".sensitivity",
        rule.sensitivity,
        "a number > 0",
    )
    try:
        rule.message.format(value=0.0, threshold=0.0, metric="m", name="n")
    except (KeyError, IndexError, ValueError) as exc:
        raise ConfigError(
            f + ".message",
            rule.message,
            "a format string using only {value} {threshold} {metric} {name}",
        ) from exc


def validate_config(c: Any) -> None:  # noqa: C901 - a flat list of checks reads best
    bools = (
        "enabled",
        "prometheus_enabled",
        "per_layer_attributes",
        "console_metrics",
        "log_enabled",
        "log_stderr",
        "alert_enabled",
        "alert_default_rules",
        "health_enabled",
        "tracing_enabled",
        "trace_retrieval_documents",
        "audit_required",
        "health_verbose",
        "knowledge_ids_enabled",
        "dashboard_enabled",
        "dashboard_verbose",
        "process_metrics",
    )
    for name in bools:
        _check(_is_bool(getattr(c, name)), name, getattr(c, name), "true or false")
    for name in ("otlp_metrics_enabled", "otlp_logs_enabled", "otlp_insecure"):
        v = getattr(c, name)
        _check(v is None or _is_bool(v), name, v, "true, false or unset")
    for name in ("prometheus_port", "health_port"):
        _check(_is_port(getattr(c, name)), name, getattr(c, name), "an integer port 0..65535")
    for name in ("service_name", "prometheus_host", "health_host"):
        v = getattr(c, name)
        _check(isinstance(v, str) and v.strip() != "", name, v, "a non-empty string")
    for name in (
        "service_instance_id",
        "retrieval_data_source_id",
        "log_file",
        "otlp_certificate",
        "otlp_client_key",
        "otlp_client_certificate",
        "server_tls_certfile",
        "server_tls_keyfile",
        "audit_hmac_key_file",
        "audit_hmac_key_env",
        "prometheus_multiprocess_dir",
    ):
        v = getattr(c, name)
        _check(
            v is None or (isinstance(v, str) and v.strip() != ""),
            name,
            v,
            "a non-empty string (a path or id) or unset",
        )
    _check(
        c.audit_hmac_key_file is None or c.audit_hmac_key_env is None,
        "audit_hmac_key_env",
        c.audit_hmac_key_env,
        "unset when audit_hmac_key_file is set (one key source)",
    )
    _check(
        isinstance(c.audit_redact_keys, tuple)
        and all(isinstance(k, str) and k.strip() for k in c.audit_redact_keys),
        "audit_redact_keys",
        c.audit_redact_keys,
        "a list of non-empty words, e.g. [password, token, api_key]",
    )
    _check(
        isinstance(c.prometheus_prefix, str) and PREFIX_PATTERN.fullmatch(c.prometheus_prefix),
        "prometheus_prefix",
        c.prometheus_prefix,
        "a Prometheus metric-name prefix matching [a-zA-Z_:][a-zA-Z0-9_:]* (default 'aga'; "
        "it renames AGA's aga_* metrics on the Prometheus endpoint)",
    )
    _validate_buckets(c.histogram_buckets)
    for name in ("resource_attributes", "prometheus_labels"):
        _check(_is_str_map(getattr(c, name)), name, getattr(c, name), "a mapping of str to str")
    _check(
        _is_str_map(c.otlp_headers),
        "otlp_headers",
        redact_headers(c.otlp_headers),  # header values are credentials: never echoed
        "a mapping of str to str",
    )
    for key in c.prometheus_labels:
        _check(
            key.replace("_", "a").isalnum() and not key[:1].isdigit() and not key.startswith("__"),
            "prometheus_labels",
            key,
            "label names matching [a-zA-Z_][a-zA-Z0-9_]* not starting with __",
        )
    _check(
        c.otlp_protocol in OTLP_PROTOCOLS,
        "otlp_protocol",
        c.otlp_protocol,
        ", ".join(OTLP_PROTOCOLS),
    )
    _check(
        c.otlp_compression in COMPRESSIONS,
        "otlp_compression",
        c.otlp_compression,
        "none, gzip, deflate",
    )
    _check(
        c.temporality_preference in TEMPORALITIES,
        "temporality_preference",
        c.temporality_preference,
        ", ".join(TEMPORALITIES),
    )
    for name in (
        "otlp_endpoint",
        "otlp_metrics_endpoint",
        "otlp_logs_endpoint",
        "otlp_traces_endpoint",
        "alert_webhook_url",
    ):
        v = getattr(c, name)
        _check(
            v is None
            or (isinstance(v, str) and v.split("://", 1)[0] in ("http", "https") and "://" in v),
            name,
            redact_url(v),
            "an http:// or https:// URL",
        )
    for name in (
        "export_interval",
        "otlp_timeout",
        "shutdown_timeout",
        "audit_flush_interval",
        "audit_retention_days",
        "alert_evaluation_interval",
        "alert_resend_interval",
        "prometheus_multiprocess_interval",
    ):
        v = getattr(c, name)
        _check(_is_num(v) and v > 0, name, v, "a number > 0")
    for name in (
        "max_layers",
        "queue_size",
        "audit_queue_size",
        "log_max_bytes",
        "audit_batch_size",
        "audit_max_detail_bytes",
        "audit_spill_max_bytes",
    ):
        v = getattr(c, name)
        _check(isinstance(v, int) and not _is_bool(v) and v > 0, name, v, "an integer > 0")
    _check(
        isinstance(c.log_backup_count, int)
        and not _is_bool(c.log_backup_count)
        and c.log_backup_count >= 0,
        "log_backup_count",
        c.log_backup_count,
        "an integer >= 0",
    )
    _check(c.log_format in LOG_FORMATS, "log_format", c.log_format, ", ".join(LOG_FORMATS))
    for name in ("log_level", "alert_log_level"):
        v = getattr(c, name)
        _check(isinstance(v, str) and v.upper() in LOG_LEVELS, name, v, ", ".join(LOG_LEVELS))
    _check(
        c.audit_storage_backend in AUDIT_BACKENDS,
        "audit_storage_backend",
        c.audit_storage_backend,
        ", ".join(AUDIT_BACKENDS),
    )
    _check(
        isinstance(c.audit_storage_path, str) and c.audit_storage_path != "",
        "audit_storage_path",
        c.audit_storage_path,
        "a file path",
    )
    _check(
        isinstance(c.audit_spill_dir, str) and c.audit_spill_dir != "",
        "audit_spill_dir",
        c.audit_spill_dir,
        "a directory path",
    )
    if c.audit_storage_backend == "postgresql" or c.audit_dsn is not None:
        from aga_otel.audit.pgschema import check_dsn

        check_dsn(c.audit_dsn)
    _check(
        c.alert_webhook_format in WEBHOOK_FORMATS,
        "alert_webhook_format",
        c.alert_webhook_format,
        ", ".join(WEBHOOK_FORMATS),
    )
    _check(
        isinstance(c.health_path, str) and c.health_path.startswith("/"),
        "health_path",
        c.health_path,
        "a path starting with /",
    )
    _check(
        (c.server_tls_certfile is None) == (c.server_tls_keyfile is None),
        "server_tls_keyfile",
        c.server_tls_keyfile,
        "set together with server_tls_certfile",
    )
    _check(
        isinstance(c.knowledge_max_documents, int)
        and not _is_bool(c.knowledge_max_documents)
        and 0 <= c.knowledge_max_documents <= MAX_DOCUMENTS,
        "knowledge_max_documents",
        c.knowledge_max_documents,
        f"an integer 0..{MAX_DOCUMENTS}",
    )
    _check(
        _is_num(c.trace_forward_sample_rate) and 0 <= c.trace_forward_sample_rate <= 1,
        "trace_forward_sample_rate",
        c.trace_forward_sample_rate,
        "a number in [0, 1]",
    )
    _check(
        not c.dashboard_enabled or c.health_enabled,
        "dashboard_enabled",
        c.dashboard_enabled,
        "false, or true together with health_enabled (it is served on the health port)",
    )
    token = c.dashboard_token
    _check(
        token is None or (isinstance(token, str) and _TOKEN.fullmatch(token) is not None),
        "dashboard_token",
        "<hidden>" if isinstance(token, str) else token,  # never echo a secret
        "unset, or 8-256 characters of A-Z a-z 0-9 . _ ~ - (it travels in URLs and cookies)",
    )
    validate_otlp_signals(c.otlp_signals)
    _check(
        c.model_name is None or (isinstance(c.model_name, str) and c.model_name.strip() != ""),
        "model_name",
        c.model_name,
        "a non-empty string (the model's name) or unset",
    )
    names = [r.name for r in c.alert_rules]
    dup = next((n for n in names if names.count(n) > 1), None)
    _check(dup is None, "alert_rules", dup, "unique rule names")


def _otlp_setting_ok(name: str, v: Any) -> tuple[bool, str]:
    """Whether ``v`` is acceptable for the OTLP setting ``name``, and what is accepted."""
    if name == "protocol":
        return v in OTLP_PROTOCOLS, ", ".join(OTLP_PROTOCOLS)
    if name == "headers":
        return _is_str_map(v), "a mapping of str to str"
    if name == "timeout":
        return _is_num(v) and v > 0, "a number > 0 (seconds)"
    if name == "compression":
        return v in COMPRESSIONS, "none, gzip, deflate"
    if name == "insecure":
        return _is_bool(v), "true or false"
    return isinstance(v, str) and v.strip() != "", "a non-empty string (a path)"


def validate_otlp_signals(signals: Any) -> None:
    """``otlp_signals``: ``{metrics|logs|traces: {protocol|headers|...: value}}``."""
    accepted = f"a mapping of {', '.join(OTLP_SIGNALS)} to mappings of OTLP settings"
    _check(isinstance(signals, dict), "otlp_signals", signals, accepted)
    for signal, settings in signals.items():
        _check(signal in OTLP_SIGNALS, "otlp_signals", signal, accepted)
        where = f"otlp_signals.{signal}"
        _check(isinstance(settings, dict), where, settings, "a mapping of OTLP settings")
        for name, v in settings.items():
            _check(name in OTLP_SIGNAL_SETTINGS, where, name, ", ".join(OTLP_SIGNAL_SETTINGS))
            ok, what = _otlp_setting_ok(name, v)
            shown = redact_headers(v) if name == "headers" else v  # credentials
            _check(ok, f"{where}.{name}", shown, what)


HISTOGRAM_KEYS = ("forward_duration", "gate_value", "entropy_value", "retrieval_score")
MAX_BUCKETS = 64


def _validate_buckets(buckets: Any) -> None:
    """``histogram_buckets``: {histogram key: strictly increasing finite bounds}."""
    _check(isinstance(buckets, dict), "histogram_buckets", buckets,
           f"a mapping of histogram ({', '.join(HISTOGRAM_KEYS)}) to a list of bounds")  # fmt: skip
    for key, bounds in buckets.items():
        _check(key in HISTOGRAM_KEYS, "histogram_buckets", key,
               f"one of {', '.join(HISTOGRAM_KEYS)}")  # fmt: skip
        ok = (
            isinstance(bounds, (list, tuple))
            and 1 <= len(bounds) <= MAX_BUCKETS
            and all(_is_num(b) for b in bounds)
            and all(a < b for a, b in zip(bounds, bounds[1:]))
        )
        _check(ok, f"histogram_buckets[{key!r}]", bounds,
               f"1 to {MAX_BUCKETS} finite numbers in strictly increasing order")  # fmt: skip
