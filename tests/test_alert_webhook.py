"""Webhook delivery against real HTTP servers on loopback: formats, retries, dead endpoints."""

from __future__ import annotations

import json
import logging
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from conftest import wait_for
from test_alert_support import Clock, Instruments

from aga_otel.alerts.manager import AlertManager
from aga_otel.alerts.model import Alert, AlertState
from aga_otel.alerts.payloads import SCHEMA
from aga_otel.alerts.webhook import CappedRetry, WebhookChannel
from aga_otel.config import AlertRuleConfig
from aga_otel.status import Status, StatusBoard

SECRET = "T0KEN-s3cret"
SERVICE = {"name": "aga", "instance_id": "i-1"}


class Hook:
    """A real HTTP server answering from a script of (status, headers) and recording bodies."""

    def __init__(self, script=(), hold: threading.Event | None = None) -> None:
        self.script, self.hold, self.requests = list(script), hold, []
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                hook.requests.append((time.monotonic(), self.path, json.loads(body)))
                if hook.hold is not None:
                    hook.hold.wait(10)
                status, headers = hook.script.pop(0) if hook.script else (200, {})
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):  # keep test output quiet
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_port}/hooks/{SECRET}?token={SECRET}"

    def close(self):
        if self.hold is not None:
            self.hold.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def hooks():
    made = []
    yield lambda *a, **k: made.append(Hook(*a, **k)) or made[-1]
    for h in made:
        h.close()


def channel(url, status=None, fmt="generic", **kw):
    opts = dict(connect_timeout=1.0, read_timeout=2.0, retries=2, backoff_factor=0.01)
    return WebhookChannel(url, fmt, SERVICE, status or StatusBoard(), **{**opts, **kw})


def alert(state=AlertState.FIRING, name="slo_latency_p99") -> Alert:
    return Alert(name, "latency_p99", 0.0021, 0.001, ">", "warning", "p99 high", state,
                 timestamp=1_700_000_060.0, started_at=1_700_000_000.0)  # fmt: skip


def assert_no_secret(*texts):
    for t in texts:
        assert SECRET not in str(t)


def test_generic_json_schema(hooks):
    hook = hooks()
    ch = channel(hook.url)
    ch.send(alert())
    wait_for(lambda: ch.stats()["delivered"] == 1)
    _, path, body = hook.requests[0]
    assert path.startswith("/hooks/")
    assert body["schema"] == SCHEMA and body["service"] == SERVICE
    a = body["alert"]
    assert (a["rule_name"], a["state"], a["value"], a["threshold"]) == (
        "slo_latency_p99", "firing", 0.0021, 0.001)  # fmt: skip
    assert a["fingerprint"] == "slo_latency_p99@1700000000.000"
    ch.shutdown(2)


def test_slack_and_alertmanager_shapes(hooks):
    hook = hooks()
    slack, am = channel(hook.url, fmt="slack"), channel(hook.url, fmt="alertmanager")
    slack.send(alert())
    wait_for(lambda: len(hook.requests) == 1)
    am.send(alert(AlertState.RESOLVED))
    wait_for(lambda: len(hook.requests) == 2)
    assert "[FIRING] slo_latency_p99" in hook.requests[0][2]["text"]
    (item,) = hook.requests[1][2]
    assert item["labels"] == {"alertname": "AgaSloLatencyP99", "rule": "slo_latency_p99",
                              "severity": "warning", "slo": "latency_p99", "job": "aga",
                              "instance": "i-1"}  # fmt: skip
    # resolved: endsAt is when it resolved (in the past), so Alertmanager resolves at once
    assert item["startsAt"] == "2023-11-14T22:13:20Z" and item["endsAt"] == "2023-11-14T22:14:20Z"
    assert item["annotations"]["runbook_url"].endswith("runbooks.md#agaslolatencyp99")
    slack.shutdown(2)
    am.shutdown(2)


def test_alertmanager_firing_alerts_are_valid_for_four_resends_and_resent(hooks):
    hook = hooks()
    clock_now = 1_700_000_100.0
    firing = [alert()]
    ch = channel(hook.url, fmt="alertmanager", resend_interval=0.2, clock=lambda: clock_now,
                 generator_url="http://h:8080/health")  # fmt: skip
    ch.send(firing[0])
    wait_for(lambda: len(hook.requests) == 1)
    (item,) = hook.requests[0][2]
    assert item["endsAt"] == "2023-11-14T22:15:00.800000Z"  # now + 4 x 0.2 s
    assert item["generatorURL"] == "http://h:8080/health"
    time.sleep(0.5)
    assert len(hook.requests) == 1  # not bound to an engine: nothing to re-send
    ch.bind(lambda: list(firing))
    wait_for(lambda: len(hook.requests) >= 3)
    assert [body[0]["labels"]["rule"] for _, _, body in hook.requests] == ["slo_latency_p99"] * len(
        hook.requests
    )
    firing.clear()  # resolved in the engine: re-sends stop
    time.sleep(0.3)
    count = len(hook.requests)
    time.sleep(0.5)
    assert len(hook.requests) == count
    assert ch.stats()["resent"] == count - 1
    ch.shutdown(2)


def test_other_formats_never_resend(hooks):
    hook = hooks()
    ch = channel(hook.url, resend_interval=0.05)
    ch.bind(lambda: [alert()])
    ch.send(alert())
    wait_for(lambda: len(hook.requests) == 1)
    time.sleep(0.3)
    assert len(hook.requests) == 1 and ch.stats()["resent"] == 0
    ch.shutdown(2)


def test_retries_server_errors_then_delivers(hooks):
    hook = hooks(script=[(500, {}), (502, {})])
    status = StatusBoard()
    ch = channel(hook.url, status)
    ch.send(alert())
    wait_for(lambda: ch.stats()["delivered"] == 1)
    assert len(hook.requests) == 3 and ch.stats()["failed"] == 0
    assert status.get("alerts.webhook").status is Status.HEALTHY
    ch.shutdown(2)


def test_honours_retry_after(hooks):
    hook = hooks(script=[(503, {"Retry-After": "1"})])
    ch = channel(hook.url)
    ch.send(alert())
    wait_for(lambda: ch.stats()["delivered"] == 1)
    (t0, _, _), (t1, _, _) = hook.requests
    assert t1 - t0 >= 0.9  # waited as told, not the 10 ms backoff
    ch.shutdown(2)


def test_caps_a_huge_retry_after(hooks, monkeypatch):
    monkeypatch.setattr(CappedRetry, "retry_after_cap", 0.2)
    assert CappedRetry().parse_retry_after("3600") == 0.2  # the cap this test set
    hook = hooks(script=[(429, {"Retry-After": "3600"})])
    ch = channel(hook.url)
    ch.send(alert())
    wait_for(lambda: ch.stats()["delivered"] == 1)  # not an hour later
    (t0, _, _), (t1, _, _) = hook.requests  # the refused request, then the delivered one
    assert t1 - t0 >= 0.18  # it waited the capped Retry-After, not the 10 ms backoff
    assert ch.stats()["failed"] == 0
    ch.shutdown(2)


def test_persistent_500_fails_cleanly_without_leaking_the_url(hooks, caplog):
    hook = hooks(script=[(500, {})] * 10)
    status = StatusBoard()
    ch = channel(hook.url, status)
    with caplog.at_level(logging.DEBUG, logger="aga_otel.alerts"):
        ch.send(alert())
        wait_for(lambda: ch.stats()["failed"] == 1)
    assert len(hook.requests) == 3  # first try + 2 retries
    st = status.get("alerts.webhook")
    assert st.status is Status.DEGRADED and "HTTP 500" in st.detail
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1
    assert_no_secret(caplog.text, status.snapshot(), ch.stats())
    ch.shutdown(2)


def test_connection_refused(caplog):
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()  # nothing listens there any more
    status = StatusBoard()
    ch = channel(f"http://127.0.0.1:{port}/hooks/{SECRET}", status)
    with caplog.at_level(logging.DEBUG, logger="aga_otel.alerts"):
        ch.send(alert())
        wait_for(lambda: ch.stats()["failed"] == 1)
    assert ch.stats()["last_error"] == "ConnectionError"
    assert_no_secret(caplog.text, status.snapshot(), ch.stats())
    ch.shutdown(2)


def test_server_that_never_answers_times_out(caplog):
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)  # connections complete in the backlog; nobody ever reads or replies
    port = listener.getsockname()[1]
    ch = channel(f"http://127.0.0.1:{port}/hooks/{SECRET}", read_timeout=0.2, retries=1)
    with caplog.at_level(logging.DEBUG, logger="aga_otel.alerts"):
        ch.send(alert())
        wait_for(lambda: ch.stats()["failed"] == 1)
    assert ch.stats()["last_error"] in ("ConnectionError", "ReadTimeout")
    assert_no_secret(caplog.text, ch.stats())
    ch.shutdown(2)
    listener.close()


def test_dead_webhook_never_delays_evaluation_and_queue_is_bounded(hooks):
    hold = threading.Event()
    hook = hooks(hold=hold)  # every request hangs until released
    ch = channel(hook.url, queue_size=2, read_timeout=30)
    rules = [AlertRuleConfig(name=f"r{i}", metric="gate_mean", threshold=0.5,
                             window_seconds=5, cooldown_seconds=0) for i in range(6)]  # fmt: skip
    inst, clock = Instruments(), Clock()
    mgr = AlertManager(rules, StatusBoard(), clock=clock, webhook=ch)
    inst.record("gate_value", 0.9)
    clock.advance(5)
    mgr.consume(inst.collect())  # returns although the endpoint is stuck
    assert len(mgr.firing()) == 6
    wait_for(lambda: len(hook.requests) == 1)
    stats = mgr.stats()
    # one request in flight, two queued, the rest dropped (the sender may or may not have
    # taken the first alert before the queue filled)
    dropped = stats["webhook"]["dropped"]
    assert dropped >= 3 and dropped + stats["webhook_queue_depth"] == 5
    assert stats["webhook"]["delivered"] == 0
    hold.set()
    wait_for(lambda: mgr.stats()["webhook"]["delivered"] == 6 - dropped)
    mgr.shutdown(2)


def test_shutdown_with_a_stuck_endpoint_returns(hooks):
    hold = threading.Event()
    hook = hooks(hold=hold)
    ch = channel(hook.url, read_timeout=30)
    ch.send(alert())
    wait_for(lambda: len(hook.requests) == 1)
    started = time.monotonic()
    ch.shutdown(0.2)  # gives up waiting; the daemon sender dies with the process
    # A coarse sanity bound (not a timing figure): far below the 30 s the request may take.
    assert time.monotonic() - started < 15
    assert ch.stats()["delivered"] == 0  # the stuck delivery was not counted as done
    hold.set()
