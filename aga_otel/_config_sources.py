"""Configuration layers read from the environment (``OTEL_*``) and from files."""

from __future__ import annotations

import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from aga_otel._validate import ConfigError
from aga_otel.redaction import redact_headers
from aga_otel.semconv import (
    ENV_GENAI_CAPTURE_CONTENT,
    GENAI_CAPTURE_OFF_SPANS,
    GENAI_CAPTURE_ON_SPANS,
)

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


def _parse_kv_list(raw: str, var: str, secret: bool = False) -> dict[str, str]:
    """``key1=value1,key2=value2`` as in OTEL_RESOURCE_ATTRIBUTES (values URL-decoded).

    ``secret``: values are credentials (headers), so an error shows the keys only.
    """
    out: dict[str, str] = {}
    for item in raw.split(","):
        item = item.strip()
        if not item:
            continue
        if "=" not in item:
            shown = redact_headers(_lenient_kv(raw)) if secret else raw
            raise ConfigError(var, shown, "comma-separated key=value pairs")
        k, v = item.split("=", 1)
        out[unquote(k.strip())] = unquote(v.strip())
    return out


def _lenient_kv(raw: str) -> dict[str, str]:
    """The well-formed ``key=value`` items (for an error; a malformed one is not shown,
    it may be the credential itself)."""
    items = (i.strip().partition("=") for i in raw.split(",") if "=" in i)
    return {k.strip(): v for k, _, v in items}


def _bool(raw: str, var: str) -> bool:
    low = raw.strip().lower()
    if low in ("true", "1", "yes", "on"):
        return True
    if low in ("false", "0", "no", "off", ""):
        return False
    raise ConfigError(var, raw, "true or false")


def _number(raw: str, var: str, scale: float = 1.0) -> float:
    try:
        return float(raw) * scale
    except ValueError:
        raise ConfigError(var, raw, "a number") from None


def env_layer(env: Mapping[str, str], explicit: frozenset[str] = frozenset()) -> dict[str, Any]:
    """Fields set by the standard OpenTelemetry environment variables.

    https://opentelemetry.io/docs/specs/otel/configuration/sdk-environment-variables/ and
    https://opentelemetry.io/docs/specs/otel/protocol/exporter/ (per-signal variants win,
    for their signal only). ``explicit``: fields set in code (see :func:`_otlp`).
    """
    g = {k: v for k, v in env.items() if k.startswith("OTEL_") and v != ""}
    out: dict[str, Any] = {}
    if "OTEL_SDK_DISABLED" in g:
        out["enabled"] = not _bool(g["OTEL_SDK_DISABLED"], "OTEL_SDK_DISABLED")
    if "OTEL_SERVICE_NAME" in g:
        out["service_name"] = g["OTEL_SERVICE_NAME"]
    if "OTEL_RESOURCE_ATTRIBUTES" in g:
        attrs = _parse_kv_list(g["OTEL_RESOURCE_ATTRIBUTES"], "OTEL_RESOURCE_ATTRIBUTES")
        if "service.name" in attrs and "service_name" not in out:
            out["service_name"] = attrs["service.name"]
        if "service.instance.id" in attrs:  # wins over the generated id
            out["service_instance_id"] = attrs["service.instance.id"]
        if "model" in attrs:
            out["model_name"] = attrs["model"]
        out["resource_attributes"] = attrs
    if "OTEL_METRIC_EXPORT_INTERVAL" in g:  # milliseconds
        out["export_interval"] = _number(
            g["OTEL_METRIC_EXPORT_INTERVAL"], "OTEL_METRIC_EXPORT_INTERVAL", 0.001
        )
    if "OTEL_EXPORTER_PROMETHEUS_HOST" in g:
        out["prometheus_host"] = g["OTEL_EXPORTER_PROMETHEUS_HOST"]
    if "OTEL_EXPORTER_PROMETHEUS_PORT" in g:
        raw = g["OTEL_EXPORTER_PROMETHEUS_PORT"]
        if not raw.strip().isdigit():
            raise ConfigError("OTEL_EXPORTER_PROMETHEUS_PORT", raw, "an integer port 0..65535")
        out["prometheus_port"] = int(raw)
    if "OTEL_METRICS_EXPORTER" in g:
        names = {n.strip() for n in g["OTEL_METRICS_EXPORTER"].split(",") if n.strip()}
        bad = names - {"otlp", "prometheus", "console", "none"}
        if bad:
            raise ConfigError(
                "OTEL_METRICS_EXPORTER",
                g["OTEL_METRICS_EXPORTER"],
                "a comma-separated list of otlp, prometheus, console, none",
            )
        out["prometheus_enabled"] = "prometheus" in names
        out["otlp_metrics_enabled"] = "otlp" in names
        out["console_metrics"] = "console" in names
    if "OTEL_LOGS_EXPORTER" in g:
        names = {n.strip() for n in g["OTEL_LOGS_EXPORTER"].split(",") if n.strip()}
        if names - {"otlp", "console", "none"}:
            raise ConfigError(
                "OTEL_LOGS_EXPORTER",
                g["OTEL_LOGS_EXPORTER"],
                "a comma-separated list of otlp, console, none",
            )
        out["otlp_logs_enabled"] = "otlp" in names
        out["log_stderr"] = "console" in names
    if ENV_GENAI_CAPTURE_CONTENT in g:
        out["trace_retrieval_documents"] = _genai_capture(g[ENV_GENAI_CAPTURE_CONTENT])
    _otlp(g, out, explicit)
    return out


# prometheus_client's multiprocess directory, which gunicorn/uvicorn deployments already set
# (https://prometheus.github.io/client_python/multiprocess/). It was set for that library,
# so it only fills ``prometheus_multiprocess_dir`` when no aga-otel source (code, a config
# file, AGA_OTEL_CONFIG) set the field; an explicit ``None`` keeps single-process mode.
PROMETHEUS_MULTIPROC_DIR = "PROMETHEUS_MULTIPROC_DIR"


def fallback_layer(env: Mapping[str, str], taken: frozenset[str]) -> dict[str, Any]:
    """Fields filled from other tools' variables, below every aga-otel source.

    ``taken``: fields set in code or by a config file (those win).
    """
    raw = env.get(PROMETHEUS_MULTIPROC_DIR, "")
    if raw.strip() and "prometheus_multiprocess_dir" not in taken:
        return {"prometheus_multiprocess_dir": raw}
    return {}


def _genai_capture(raw: str) -> bool:
    """The GenAI content opt-in for spans: the boolean form or the util-genai modes."""
    value = raw.strip().lower()
    if value in GENAI_CAPTURE_ON_SPANS | GENAI_CAPTURE_OFF_SPANS:
        return value in GENAI_CAPTURE_ON_SPANS
    raise ConfigError(
        ENV_GENAI_CAPTURE_CONTENT,
        raw,
        "true, false, NO_CONTENT, SPAN_ONLY, EVENT_ONLY or SPAN_AND_EVENT",
    )


# OTLP exporter settings: (variable suffix, setting name, parser). The spec's per-signal
# variables (OTEL_EXPORTER_OTLP_LOGS_HEADERS, ...) apply to their signal only.
_OTLP_VARS = (
    ("PROTOCOL", "protocol", lambda v, var: v),
    ("HEADERS", "headers", lambda v, var: _parse_kv_list(v, var, secret=True)),
    ("TIMEOUT", "timeout", lambda v, var: _number(v, var, 0.001)),  # milliseconds
    ("COMPRESSION", "compression", lambda v, var: v),
    ("CERTIFICATE", "certificate", lambda v, var: v),
    ("CLIENT_KEY", "client_key", lambda v, var: v),
    ("CLIENT_CERTIFICATE", "client_certificate", lambda v, var: v),
    ("INSECURE", "insecure", lambda v, var: _bool(v, var)),
)


def _otlp_settings(g: Mapping[str, str], prefix: str) -> dict[str, Any]:
    """The OTLP settings set by variables ``<prefix><SUFFIX>`` (parsed, by setting name)."""
    out: dict[str, Any] = {}
    for suffix, name, parse in _OTLP_VARS:
        var = prefix + suffix
        if var in g:
            out[name] = parse(g[var], var)
    return out


def _otlp(g: Mapping[str, str], out: dict[str, Any], explicit: frozenset[str]) -> None:
    """The general variables fill the shared ``otlp_*`` fields; each per-signal variable
    fills ``otlp_signals[<signal>]`` and so reaches that signal's exporter only. A
    per-signal variable does not override a shared setting the code set explicitly."""
    pre = "OTEL_EXPORTER_OTLP_"
    if pre + "ENDPOINT" in g:
        out["otlp_endpoint"] = g[pre + "ENDPOINT"]
    for name, value in _otlp_settings(g, pre).items():
        out[f"otlp_{name}"] = value
    signals: dict[str, dict[str, Any]] = {}
    for signal in ("METRICS", "LOGS", "TRACES"):
        if f"{pre}{signal}_ENDPOINT" in g:
            out[f"otlp_{signal.lower()}_endpoint"] = g[f"{pre}{signal}_ENDPOINT"]
        own = _otlp_settings(g, f"{pre}{signal}_")
        own = {k: v for k, v in own.items() if f"otlp_{k}" not in explicit}
        if own:
            signals[signal.lower()] = own
    if signals:
        out["otlp_signals"] = signals
    v = g.get(pre + "METRICS_TEMPORALITY_PREFERENCE")
    if v is not None:
        out["temporality_preference"] = v.lower()


def _parse_yaml(path: Path, text: bytes) -> Any:
    import yaml

    try:
        return yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or type(exc).__name__
        raise ConfigError("config_file", str(path), f"valid YAML ({problem}{where})") from None


def file_layer(path: Path) -> dict[str, Any]:
    """Read a YAML or TOML config file (a mapping of ObservabilityConfig fields)."""
    try:
        text = path.read_bytes()
    except OSError as exc:
        raise ConfigError("config_file", str(path), f"a readable file ({exc.strerror})") from None
    if path.suffix in (".yaml", ".yml"):
        data = _parse_yaml(path, text)
    elif path.suffix == ".toml":
        try:
            data = tomllib.loads(text.decode("utf-8"))
        except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError("config_file", str(path), f"valid UTF-8 TOML ({exc})") from None
    else:
        raise ConfigError("config_file", str(path), "a .yaml, .yml or .toml file")
    if isinstance(data, dict) and isinstance(data.get("aga_otel"), dict):
        data = data["aga_otel"]  # allow a top-level [aga_otel] table / key
    if not isinstance(data, dict):
        raise ConfigError("config_file", str(path), "a mapping of configuration fields")
    return data
