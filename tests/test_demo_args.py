"""Issue 27: the demo checks its numbers before anything starts, in the configuration's
style (the flag, the value, what is accepted; exit 2), and a busy port is an error that
names the flag (the library itself keeps degrading on one)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

CMD = [sys.executable, "-m", "aga_otel", "demo"]
PORTS = ["--prometheus-port", "0", "--health-port", "0"]

BAD = [
    ("--layers", "0", "an integer 1..1024"),
    ("--layers", "abc", "an integer 1..1024"),
    ("--rate", "-3", "a number of steps per second > 0"),
    ("--rate", "0", "a number of steps per second > 0"),
    ("--rate", "nan", "a number of steps per second > 0"),
    ("--duration", "-1", "a number of seconds > 0"),
    ("--duration", "0", "a number of seconds > 0"),
    ("--duration", "inf", "a number of seconds > 0"),
    ("--seed", "1.5", "an integer"),
    ("--prometheus-port", "70000", "an integer port 0..65535"),
    ("--health-port", "-1", "an integer port 0..65535"),
]


def demo(*argv: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    return subprocess.run([*CMD, *argv], capture_output=True, text=True, timeout=120, env=env)


@pytest.mark.parametrize(("flag", "value", "accepted"), BAD, ids=lambda v: str(v))
def test_out_of_range_numbers_exit_2_naming_flag_value_and_range(flag, value, accepted):
    out = demo(*PORTS, flag, value, "--quiet")
    assert out.returncode == 2, out.stdout + out.stderr
    assert f"aga-otel demo: invalid argument: {flag}={value}; accepted: {accepted}" in out.stderr
    assert "Traceback" not in out.stderr and "demo:" not in out.stdout  # nothing started


@pytest.mark.parametrize("flag", ["--prometheus-port", "--health-port"])
def test_a_busy_port_is_an_error_naming_the_flag(flag, busy_port):
    argv = {"--prometheus-port": "0", "--health-port": "0", flag: str(busy_port)}
    out = demo(*[x for kv in argv.items() for x in kv], "--duration", "5", "--quiet")
    assert out.returncode == 2
    assert f"127.0.0.1:{busy_port}" in out.stderr and f"with {flag}" in out.stderr
    assert "done:" not in out.stdout  # it stopped instead of running without the endpoint


def test_good_numbers_run():
    out = demo(*PORTS, "--duration", "1", "--rate", "50", "--layers", "2", "--quiet")
    assert out.returncode == 0, out.stderr
    assert "done:" in out.stdout and "dropped: none" in out.stdout
