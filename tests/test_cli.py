"""`aga-otel` command line: --help, --version and a real `aga-otel demo` run."""

import re
import subprocess
import sys
import time
import urllib.request

from prometheus_client.parser import text_string_to_metric_families

from aga_otel import __version__

CMD = [sys.executable, "-m", "aga_otel"]


def test_help_and_version():
    out = subprocess.run([*CMD, "--help"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and "demo" in out.stdout
    out = subprocess.run([*CMD, "--version"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and __version__ in out.stdout
    out = subprocess.run([*CMD, "demo", "--help"], capture_output=True, text=True, timeout=60)
    assert "--otlp-endpoint" in out.stdout and "--prometheus-port" in out.stdout


def test_demo_serves_live_metrics_and_exits_zero():
    proc = subprocess.Popen(
        [
            *CMD,
            "demo",
            "--duration",
            "6",
            "--prometheus-port",
            "0",
            "--health-port",
            "0",
            "--layers",
            "4",
            "--rate",
            "50",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        url = None
        deadline = time.monotonic() + 30
        lines = []
        while time.monotonic() < deadline and url is None:
            line = proc.stdout.readline()
            lines.append(line)
            m = re.search(r"metrics\s*: (http://\S+)", line)
            url = m.group(1) if m else None
        assert url, "".join(lines)
        time.sleep(2)
        body = urllib.request.urlopen(url, timeout=5).read().decode()
        names = {s.name for f in text_string_to_metric_families(body) for s in f.samples}
        assert {
            "aga_forward_total",
            "aga_forward_duration_seconds_bucket",
            "aga_knowledge_count",
            "aga_otel_events_received_total",
            "process_cpu_time_seconds_total",  # process metrics: on in the demo
        } <= names
        rest, _ = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 0, rest
    assert "events/s" in rest and "done:" in rest


def test_demo_pushes_otlp_metrics_and_traces_to_a_receiver():
    from otlp_receiver import GrpcReceiver

    with GrpcReceiver() as receiver:
        out = subprocess.run([*CMD, "demo", "--duration", "3", "--prometheus-port", "0",
                              "--health-port", "0", "--otlp-endpoint", receiver.endpoint,
                              "--tracing", "--quiet"],
                             capture_output=True, text=True, timeout=90)  # fmt: skip
        assert out.returncode == 0, out.stdout + out.stderr
        got = receiver.received
        assert got.metric_points("aga.forward"), "no metrics over OTLP"
        spans = got.spans()
        names = {s.name for s in spans}
        assert {"demo.generate", "aga.forward"} <= names
        requests = {s.span_id for s in spans if s.name == "demo.generate"}
        assert all(s.parent_span_id in requests for s in spans if s.name == "aga.forward")
