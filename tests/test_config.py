"""ObservabilityConfig: validation, sources and their precedence."""

import pytest

from aga_otel import AlertRuleConfig, ConfigError, ObservabilityConfig
from aga_otel.contract import SimulatedConfig


@pytest.mark.parametrize(
    ("field", "value", "accepted"),
    [
        ("log_format", "xml", "json, text"),
        ("log_level", "LOUD", "DEBUG"),
        ("prometheus_port", 70000, "0..65535"),
        ("prometheus_port", "9464", "0..65535"),
        ("otlp_protocol", "thrift", "grpc, http/protobuf"),
        ("audit_storage_backend", "redis", "memory, file, sqlite"),
        ("temporality_preference", "sometimes", "cumulative, delta"),
        ("prometheus_prefix", "my-app", "[a-zA-Z_:][a-zA-Z0-9_:]*"),
        ("queue_size", 0, "> 0"),
        ("export_interval", -1, "> 0"),
        ("otlp_endpoint", "localhost:4317", "http:// or https://"),
        ("health_path", "health", "starting with /"),
        ("prometheus_labels", {"bad-name": "x"}, "label names"),
        ("enabled", "yes", "true or false"),
    ],
)
def test_bad_values_name_field_value_and_accepted(field, value, accepted):
    with pytest.raises(ConfigError) as err:
        ObservabilityConfig(**{field: value})
    assert err.value.field == field
    assert accepted in str(err.value)
    assert field in str(err.value)


def test_bad_alert_rule_lists_accepted_metrics_and_operators():
    with pytest.raises(ConfigError, match="latency_p99") as err:
        AlertRuleConfig(name="r", metric="latency_p42", threshold=1)
    assert err.value.value == "latency_p42"
    with pytest.raises(ConfigError, match=">= <= =="):
        AlertRuleConfig(name="r", metric="gate_mean", operator="!=", threshold=1)
    with pytest.raises(ConfigError, match="format string"):
        AlertRuleConfig(name="r", metric="gate_mean", message="{oops}")


def test_webhook_url_is_never_echoed_in_errors():
    with pytest.raises(ConfigError) as err:
        ObservabilityConfig(alert_webhook_url="ftp://hooks.example/T0KEN/secret")
    assert "T0KEN" not in str(err.value) and "secret" not in str(err.value)


def test_env_variables_are_honoured():
    env = {
        "OTEL_SERVICE_NAME": "llm-7",
        "OTEL_RESOURCE_ATTRIBUTES": "deployment.environment=prod,team=ml%20infra",
        "OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318",
        "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
        "OTEL_EXPORTER_OTLP_METRICS_PROTOCOL": "grpc",
        "OTEL_EXPORTER_OTLP_HEADERS": "authorization=Bearer%20x",
        "OTEL_EXPORTER_OTLP_TIMEOUT": "2500",
        "OTEL_METRIC_EXPORT_INTERVAL": "15000",
        "OTEL_EXPORTER_PROMETHEUS_PORT": "9999",
        "OTEL_EXPORTER_PROMETHEUS_HOST": "0.0.0.0",
        "OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE": "DELTA",
    }
    cfg = ObservabilityConfig().resolve(env=env)
    assert cfg.service_name == "llm-7"
    assert cfg.resource_attributes == {"deployment.environment": "prod", "team": "ml infra"}
    assert cfg.otlp_endpoint == "http://collector:4318"
    assert cfg.otlp_protocol == "http/protobuf"  # the general variable
    assert cfg.otlp_signals == {"metrics": {"protocol": "grpc"}}  # metrics' own, for metrics
    assert cfg.otlp_headers == {"authorization": "Bearer x"}
    assert cfg.otlp_timeout == 2.5 and cfg.export_interval == 15.0
    assert (cfg.prometheus_host, cfg.prometheus_port) == ("0.0.0.0", 9999)
    assert cfg.temporality_preference == "delta"


def test_exporter_selection_and_sdk_disabled_from_env():
    cfg = ObservabilityConfig().resolve(
        env={
            "OTEL_METRICS_EXPORTER": "otlp",
            "OTEL_LOGS_EXPORTER": "none",
            "OTEL_SDK_DISABLED": "true",
        }
    )
    assert cfg.prometheus_enabled is False and cfg.otlp_metrics_enabled is True
    assert cfg.otlp_logs_enabled is False and cfg.enabled is False
    with pytest.raises(ConfigError, match="OTEL_METRICS_EXPORTER"):
        ObservabilityConfig().resolve(env={"OTEL_METRICS_EXPORTER": "zipkin"})
    with pytest.raises(ConfigError, match="OTEL_EXPORTER_PROMETHEUS_PORT"):
        ObservabilityConfig().resolve(env={"OTEL_EXPORTER_PROMETHEUS_PORT": "http"})


def test_precedence_code_then_env_then_file_then_aga_config(tmp_path):
    aga = SimulatedConfig(prometheus_port=9090, log_level="DEBUG", log_format="text")
    cfg_file = tmp_path / "aga-otel.yaml"
    cfg_file.write_text("prometheus_port: 9300\nlog_level: WARNING\nservice_name: from-file\n")
    env = {"OTEL_SERVICE_NAME": "from-env"}

    from_aga = ObservabilityConfig.from_aga_config(aga)
    assert from_aga.prometheus_port == 9090  # AGAConfig's port is kept
    resolved = from_aga.resolve(env=env, config_file=cfg_file)
    assert resolved.prometheus_port == 9300  # file beats AGAConfig
    assert resolved.log_level == "WARNING"
    assert resolved.log_format == "text"  # only AGAConfig says it
    assert resolved.service_name == "from-env"  # env beats file

    explicit = ObservabilityConfig(service_name="from-code", prometheus_port=9464)
    resolved = explicit.resolve(env=env, config_file=cfg_file)
    assert resolved.service_name == "from-code" and resolved.prometheus_port == 9464
    assert resolved.log_level == "WARNING"


def test_toml_file_and_unknown_fields(tmp_path):
    f = tmp_path / "c.toml"
    f.write_text(
        '[aga_otel]\nprometheus_port = 9555\nalert_rules = [{name = "x", '
        'metric = "entropy_mean", threshold = 5.0}]\n'
    )
    cfg = ObservabilityConfig.from_file(f)
    assert cfg.prometheus_port == 9555 and cfg.alert_rules[0].metric == "entropy_mean"
    bad = tmp_path / "bad.yaml"
    bad.write_text("prometheus_portt: 1\n")
    with pytest.raises(ConfigError, match="prometheus_portt"):
        ObservabilityConfig.from_file(bad)
    with pytest.raises(ConfigError, match="readable file"):
        ObservabilityConfig.from_file(tmp_path / "missing.yaml")


def test_defaults():
    cfg = ObservabilityConfig()
    assert cfg.prometheus_port == 9464 and cfg.health_port == 8080
    assert cfg.health_path == "/health" and cfg.prometheus_prefix == "aga"
    assert cfg.log_max_bytes == 100 * 1024 * 1024 and cfg.audit_retention_days == 90
