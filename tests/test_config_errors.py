"""Issue 14 item 12: every bad configuration value is a ``ConfigError`` naming the field,
the value and what is accepted — from a file (YAML and TOML), from code and from the
environment — never a parser's exception or a TypeError, never a silently disabled part."""

from __future__ import annotations

import dataclasses

import pytest
import yaml

from aga_otel import ConfigError, ObservabilityConfig

# One bad value per field: a new field without a row here fails test_every_field_has_a_row.
BAD = {
    "enabled": "yes please",
    "service_name": "",
    "service_instance_id": 7,
    "resource_attributes": {"region": 1},
    "prometheus_enabled": 1,
    "prometheus_host": "",
    "prometheus_port": 70000,
    "prometheus_prefix": "9-not-a-name",
    "prometheus_labels": {"bad-label": "x"},
    "prometheus_multiprocess_dir": "",
    "prometheus_multiprocess_interval": 0,
    "per_layer_attributes": "no",
    "max_layers": 0,
    "console_metrics": "on",
    "export_interval": -1,
    "temporality_preference": "sometimes",
    "otlp_endpoint": "collector:4317",
    "otlp_metrics_endpoint": "udp://collector:4317",
    "otlp_logs_endpoint": 4318,
    "otlp_traces_endpoint": "",
    "otlp_protocol": "http/json",
    "otlp_metrics_enabled": "maybe",
    "otlp_logs_enabled": 2,
    "otlp_headers": ["Authorization", "x"],
    "otlp_timeout": 0,
    "otlp_compression": "zstd",
    "otlp_certificate": 5,
    "otlp_client_key": "",
    "otlp_client_certificate": [],
    "otlp_insecure": "false-ish",
    "otlp_signals": {"profiles": {"protocol": "grpc"}},
    "model_name": "",
    "process_metrics": "yes",
    "histogram_buckets": {"forward_duration": [0.1, 0.01]},
    "queue_size": 0,
    "shutdown_timeout": "soon",
    "log_enabled": None,
    "log_format": "xml",
    "log_level": "LOUD",
    "log_file": 123,
    "log_stderr": "stderr",
    "log_max_bytes": -5,
    "log_backup_count": -1,
    "audit_storage_backend": "mongodb",
    "audit_storage_path": "",
    "audit_retention_days": 0,
    "audit_flush_interval": "often",
    "audit_batch_size": 1.5,
    "audit_redact_keys": "password",
    "audit_max_detail_bytes": 0,
    "audit_hmac_key_file": "",
    "audit_hmac_key_env": 5,
    "alert_enabled": "true",
    "alert_rules": 5,
    "alert_default_rules": 0,
    "alert_webhook_url": "hooks.example/abc",
    "alert_webhook_format": "teams",
    "alert_log_level": 30,
    "alert_evaluation_interval": 0,
    "health_enabled": "y",
    "health_host": None,
    "health_port": -1,
    "health_path": "health",
    "server_tls_certfile": 1,
    "server_tls_keyfile": "",
    "tracing_enabled": "1",
    "trace_forward_sample_rate": 1.5,
    "alert_resend_interval": 0,
    "audit_dsn": 5,
    "audit_queue_size": 0,
    "audit_required": "yes",
    "audit_spill_dir": 5,
    "audit_spill_max_bytes": 0,
    "dashboard_enabled": "on",
    "dashboard_token": "short",
    "dashboard_verbose": "yes",
    "knowledge_ids_enabled": "no",
    "trace_retrieval_documents": "yes",
    "retrieval_data_source_id": 7,
    "knowledge_max_documents": 5000,
    "health_verbose": "no",
}
REDACTED_IN_ERRORS = {"otlp_headers", "otlp_endpoint", "otlp_metrics_endpoint",
                      "otlp_logs_endpoint", "otlp_traces_endpoint", "alert_webhook_url",
                      "dashboard_token", "audit_dsn"}  # fmt: skip


def test_every_field_has_a_row():
    fields = {f.name for f in dataclasses.fields(ObservabilityConfig)}
    assert sorted(fields - set(BAD)) == [] and sorted(set(BAD) - fields) == []


def _check(err: ConfigError, field: str, value) -> None:
    assert err.field == field or err.field.startswith((f"{field}[", f"{field}.")), err
    assert err.accepted, err
    text = str(err)
    assert field in text and "accepted:" in text
    if field not in REDACTED_IN_ERRORS:  # the value, or the offending key of a mapping
        assert repr(value) in text or any(repr(k) in text for k in getattr(value, "keys", list)())


@pytest.mark.parametrize(("field", "value"), sorted(BAD.items()))
def test_bad_value_in_yaml_file(tmp_path, field, value):
    path = tmp_path / "aga-otel.yaml"
    path.write_text(yaml.safe_dump({field: value}))
    with pytest.raises(ConfigError) as err:
        ObservabilityConfig.from_file(path)
    _check(err.value, field, value)


@pytest.mark.parametrize(("field", "value"), sorted(BAD.items()))
def test_bad_value_in_code(field, value):
    with pytest.raises(ConfigError) as err:
        ObservabilityConfig(**{field: value})
    _check(err.value, field, value)


@pytest.mark.parametrize(
    ("rules", "field"),
    [
        ([{"name": "r", "threshold": 1}], "alert_rules[0].metric"),
        ([{"metric": "gate_mean"}], "alert_rules[0].name"),
        (["not a rule"], "alert_rules[0]"),
        ([{"name": "r", "metric": "gate_mean", "colour": "red"}], "alert_rules[0].colour"),
        ([{"name": "r", "metric": "gate_mean", "threshold": "high"}], "alert_rules['r'].threshold"),
        ({"name": "r"}, "alert_rules"),
    ],
)
def test_bad_alert_rules(rules, field):
    with pytest.raises(ConfigError) as err:
        ObservabilityConfig(alert_rules=rules)
    assert err.value.field == field


@pytest.mark.parametrize(
    ("name", "text", "where"),
    [
        ("bad.yaml", "prometheus_port: [1,\nlog_level: INFO\n", "line 3"),
        ("tabs.yaml", "log_level:\n\t- INFO\n", "line 2"),
        ("bad.toml", "prometheus_port = \n", "line 1"),
        ("dup.toml", "log_level = 'INFO'\nlog_level = 'DEBUG'\n", "line 2"),
    ],
)
def test_malformed_file_names_file_and_position(tmp_path, name, text, where):
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(ConfigError) as err:
        ObservabilityConfig.from_file(path)
    assert err.value.field == "config_file" and err.value.value == str(path)
    assert where in err.value.accepted


def test_non_utf8_toml(tmp_path):
    path = tmp_path / "latin1.toml"
    path.write_bytes(b"service_name = '\xe9'\n")
    with pytest.raises(ConfigError) as err:
        ObservabilityConfig.from_file(path)
    assert err.value.field == "config_file" and "UTF-8" in err.value.accepted


@pytest.mark.parametrize("value", [["log_level", "INFO"], "log_level: INFO", 5])
def test_config_that_is_not_a_mapping(value):
    with pytest.raises(ConfigError) as err:
        ObservabilityConfig.from_dict(value)
    assert err.value.field == "config"
