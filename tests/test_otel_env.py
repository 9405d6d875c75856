"""Issue 13: every ``OTEL_*`` variable the README lists, one row each, per signal.

The per-signal OTLP variables (``OTEL_EXPORTER_OTLP_<SIGNAL>_*``) reach their own signal's
exporter only; the general ones reach every signal that has no value of its own.
"""

from __future__ import annotations

import subprocess
import sys

import pytest
from conftest import local_config, simulate
from otlp_receiver import GrpcReceiver, HttpReceiver, attrs

from aga_otel import ConfigError, ObservabilityConfig
from aga_otel.exporters.otlp import (
    create_log_exporter,
    create_metric_exporter,
    create_span_exporter,
    exporter_kwargs,
    signal_endpoint,
    signal_setting,
)
from aga_otel.forking import child_instance_id

SIGNALS = ("metrics", "logs", "traces")
PRE = "OTEL_EXPORTER_OTLP_"

# (variable suffix, raw value, setting name, parsed value, default when unset)
OTLP_ROWS = [
    ("PROTOCOL", "grpc", "protocol", "grpc", "http/protobuf"),
    ("HEADERS", "x-tenant=t%201,auth=k", "headers", {"x-tenant": "t 1", "auth": "k"}, {}),
    ("TIMEOUT", "2500", "timeout", 2.5, 10.0),
    ("COMPRESSION", "gzip", "compression", "gzip", None),
    ("CERTIFICATE", "/etc/ca.pem", "certificate", "/etc/ca.pem", None),
    ("CLIENT_KEY", "/etc/key.pem", "client_key", "/etc/key.pem", None),
    ("CLIENT_CERTIFICATE", "/etc/crt.pem", "client_certificate", "/etc/crt.pem", None),
    ("INSECURE", "true", "insecure", True, None),
]
# Exporter keyword per setting (HTTP/protobuf exporters; ``insecure`` is gRPC-only).
HTTP_KWARG = {"headers": "headers", "timeout": "timeout", "certificate": "certificate_file",
              "client_key": "client_key_file", "client_certificate": "client_certificate_file"}  # fmt: skip


def resolved(env: dict[str, str], **code) -> ObservabilityConfig:
    return ObservabilityConfig(**code).resolve(env=env)


@pytest.mark.parametrize("scope", ["", "METRICS_", "LOGS_", "TRACES_"])
@pytest.mark.parametrize(("suffix", "raw", "name", "parsed", "default"), OTLP_ROWS)
def test_otlp_variable_reaches_its_signals_only(scope, suffix, raw, name, parsed, default):
    # Every row on top of a general HTTP protocol, so the PROTOCOL row changes something.
    env = {PRE + "PROTOCOL": "http/protobuf", f"{PRE}{scope}{suffix}": raw}
    if scope == "" and suffix == "PROTOCOL":
        default = parsed  # the general variable itself
    cfg = resolved(env)
    for signal in SIGNALS:
        applies = scope in ("", f"{signal.upper()}_")
        want = parsed if applies else default
        assert signal_setting(cfg, signal, name) == want, (signal, name)
        if name in HTTP_KWARG and signal_setting(cfg, signal, "protocol") == "http/protobuf":
            kw = exporter_kwargs(cfg, signal)
            assert kw[HTTP_KWARG[name]] == (want or None), (signal, name)


@pytest.mark.parametrize("signal", SIGNALS)
def test_endpoints_per_signal_and_general(signal):
    env = {PRE + "ENDPOINT": "http://all:4318", PRE + "PROTOCOL": "http/protobuf",
           f"{PRE}{signal.upper()}_ENDPOINT": "http://own:9999/custom"}  # fmt: skip
    cfg = resolved(env)
    for s in SIGNALS:
        want = "http://own:9999/custom" if s == signal else f"http://all:4318/v1/{s}"
        assert signal_endpoint(cfg, s) == want
    # The /v1/<signal> path follows the signal's own protocol.
    cfg = resolved({PRE + "ENDPOINT": "http://all:4317", f"{PRE}{signal.upper()}_PROTOCOL":
                    "http/protobuf"})  # fmt: skip
    for s in SIGNALS:
        want = "http://all:4317/v1/" + s if s == signal else "http://all:4317"
        assert signal_endpoint(cfg, s) == want


def test_the_issue_case_builds_an_exporter_of_each_signals_protocol():
    cfg = resolved({
        PRE + "ENDPOINT": "http://collector:4317",
        PRE + "METRICS_PROTOCOL": "http/protobuf",
        PRE + "METRICS_HEADERS": "x-metrics=m",
        PRE + "LOGS_PROTOCOL": "grpc",
    })  # fmt: skip
    assert "proto.http" in type(create_metric_exporter(cfg)).__module__
    assert "proto.grpc" in type(create_log_exporter(cfg)).__module__
    assert "proto.grpc" in type(create_span_exporter(cfg)).__module__  # the general default
    assert exporter_kwargs(cfg, "metrics")["headers"] == {"x-metrics": "m"}
    assert exporter_kwargs(cfg, "logs")["headers"] is None  # None: the SDK applies its own
    assert exporter_kwargs(cfg, "traces")["headers"] is None


def test_code_wins_over_a_per_signal_variable():
    cfg = resolved({PRE + "LOGS_PROTOCOL": "http/protobuf"}, otlp_protocol="grpc")
    assert signal_setting(cfg, "logs", "protocol") == "grpc"
    cfg = resolved({PRE + "LOGS_PROTOCOL": "http/protobuf"})
    assert signal_setting(cfg, "logs", "protocol") == "http/protobuf"


@pytest.mark.parametrize(
    ("var", "raw"),
    [(PRE + "LOGS_TIMEOUT", "soon"), (PRE + "TRACES_INSECURE", "maybe"),
     (PRE + "METRICS_HEADERS", "no-equals-sign"), (PRE + "LOGS_PROTOCOL", "http/json"),
     (PRE + "TRACES_COMPRESSION", "zstd")],
)  # fmt: skip
def test_bad_per_signal_variable_is_a_config_error(var, raw):
    with pytest.raises(ConfigError) as err:
        resolved({var: raw})
    signal = var[len(PRE) :].split("_")[0].lower()
    assert var in err.value.field or f"otlp_signals.{signal}" in err.value.field


# (variable, raw value, field, expected value)
OTHER_ROWS = [
    ("OTEL_SDK_DISABLED", "true", "enabled", False),
    ("OTEL_SERVICE_NAME", "llm-7", "service_name", "llm-7"),
    ("OTEL_RESOURCE_ATTRIBUTES", "service.name=r-svc", "service_name", "r-svc"),
    ("OTEL_RESOURCE_ATTRIBUTES", "service.instance.id=pod-7", "service_instance_id", "pod-7"),
    ("OTEL_RESOURCE_ATTRIBUTES", "model=llama-3-8b", "model_name", "llama-3-8b"),
    ("OTEL_RESOURCE_ATTRIBUTES", "team=ml%20infra", "resource_attributes", {"team": "ml infra"}),
    ("OTEL_METRIC_EXPORT_INTERVAL", "15000", "export_interval", 15.0),
    ("OTEL_EXPORTER_PROMETHEUS_HOST", "0.0.0.0", "prometheus_host", "0.0.0.0"),
    ("OTEL_EXPORTER_PROMETHEUS_PORT", "9999", "prometheus_port", 9999),
    ("OTEL_METRICS_EXPORTER", "otlp", "prometheus_enabled", False),
    ("OTEL_METRICS_EXPORTER", "otlp", "otlp_metrics_enabled", True),
    ("OTEL_METRICS_EXPORTER", "console", "console_metrics", True),
    ("OTEL_LOGS_EXPORTER", "none", "otlp_logs_enabled", False),
    ("OTEL_LOGS_EXPORTER", "console", "log_stderr", True),
    ("OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE", "DELTA", "temporality_preference",
     "delta"),
]  # fmt: skip


@pytest.mark.parametrize(("var", "raw", "field", "want"), OTHER_ROWS)
def test_other_variables(var, raw, field, want):
    assert getattr(resolved({var: raw}), field) == want
    assert getattr(resolved({}), field) != want  # the row tests a change


def test_service_instance_id_from_env_wins_and_a_forked_child_derives_its_own(make_stack):
    from aga_otel.contract import SimulatedPlugin

    env = {"OTEL_RESOURCE_ATTRIBUTES": "service.instance.id=pod-7,model=m-1"}
    stack = make_stack(SimulatedPlugin().event_bus, local_config(), env=env)
    assert stack.instance_id == "pod-7"
    assert stack.resource.attributes["service.instance.id"] == "pod-7"
    assert stack.resource.attributes["model"] == "m-1"
    assert child_instance_id("pod-7", 4242) == "pod-7-4242"
    generated = {child_instance_id(None, 4242) for _ in range(2)}
    assert len(generated) == 2  # no id configured: a new random one per child


def test_metrics_logs_and_traces_each_follow_their_own_variables(plugin, make_stack):
    """The issue's case through real receivers: metrics over HTTP with the metrics headers,
    logs over gRPC with the logs headers, traces over the general settings."""
    with HttpReceiver() as m_rx, GrpcReceiver() as l_rx, GrpcReceiver() as t_rx:
        env = {
            PRE + "ENDPOINT": t_rx.endpoint,
            PRE + "HEADERS": "x-general=g",
            PRE + "METRICS_PROTOCOL": "http/protobuf",
            PRE + "METRICS_ENDPOINT": m_rx.endpoint + "/v1/metrics",
            PRE + "METRICS_HEADERS": "x-metrics=m",
            PRE + "LOGS_PROTOCOL": "grpc",
            PRE + "LOGS_ENDPOINT": l_rx.endpoint,
            PRE + "LOGS_HEADERS": "x-logs=l",
        }
        cfg = local_config(log_enabled=True, tracing_enabled=True, trace_forward_sample_rate=1.0)
        stack = make_stack(plugin.event_bus, cfg, env=env)
        simulate(plugin, steps=5, layers=2)
        stack.shutdown()
        for rx, signal, own in ((m_rx, "metrics", "x-metrics"), (l_rx, "logs", "x-logs"),
                                (t_rx, "traces", "x-general")):  # fmt: skip
            rx.received.wait_for(signal)
            headers = rx.received.headers
            assert headers and all(h.get(own) for h in headers), (signal, headers)
            others = {"x-metrics", "x-logs", "x-general"} - {own}
            assert not any(h.get(o) for h in headers for o in others), (signal, headers)
            assert all(not r for s, r in rx.received.requests.items() if s != signal)


CMD = [sys.executable, "-m", "aga_otel", "demo", "--duration", "1", "--quiet",
       "--prometheus-port", "0", "--health-port", "0"]  # fmt: skip


def _demo(env_extra: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    import os

    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    env.update(env_extra)
    return subprocess.run([*CMD, *args], capture_output=True, text=True, timeout=90, env=env)


def test_demo_with_sdk_disabled_exits_cleanly():
    out = _demo({"OTEL_SDK_DISABLED": "true"})
    assert out.returncode == 0, out.stdout + out.stderr
    assert "disabled" in out.stdout and "Traceback" not in out.stderr


@pytest.mark.parametrize("source", ["env", "config"])
def test_demo_honours_the_service_name(tmp_path, source):
    with GrpcReceiver() as rx:
        if source == "env":
            out = _demo({"OTEL_SERVICE_NAME": "svc-env"}, "--otlp-endpoint", rx.endpoint)
            want = "svc-env"
        else:
            path = tmp_path / "demo.yaml"
            path.write_text("service_name: svc-file\n")
            out = _demo({}, "--otlp-endpoint", rx.endpoint, "--config", str(path))
            want = "svc-file"
        assert out.returncode == 0, out.stdout + out.stderr
        rx.received.wait_for("metrics")
        assert attrs(rx.received.resources("metrics")[0].attributes)["service.name"] == want


@pytest.mark.skipif(not hasattr(__import__("os"), "fork"), reason="os.fork() is POSIX only")
def test_a_forked_child_derives_its_instance_id_from_the_configured_one(make_stack):
    import os

    from aga_otel.contract import SimulatedPlugin

    env = {"OTEL_RESOURCE_ATTRIBUTES": "service.instance.id=pod-7"}
    stack = make_stack(SimulatedPlugin().event_bus, local_config(), env=env)
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report and leave at once
        try:
            ids = f"{stack.get_stats()['service_instance_id']} {os.getpid()}"
            os.write(write_fd, ids.encode())
        finally:
            os._exit(0)
    os.close(write_fd)
    child_id, child_pid = os.read(read_fd, 200).decode().split()
    os.waitpid(pid, 0)
    assert child_id == f"pod-7-{child_pid}" and stack.instance_id == "pod-7"
