"""The live dashboard over real sockets: routes, token, the event stream, its costs and
bounds, and the demo's banner."""

from __future__ import annotations

import http.client
import json
import logging
import re
import subprocess
import sys
import threading
import time
import urllib.request

import pytest
from conftest import http_request, local_config, simulate, wait_for

from aga_otel import ConfigError, ObservabilityConfig
from aga_otel.health import HealthMonitor
from aga_otel.live import Broadcaster, DashboardApp, LiveModel, dashboard_url
from aga_otel.live.broadcast import THREAD_NAME
from aga_otel.status import StatusBoard

TOKEN = "s3cret-token.1"


def dash_config(**kw) -> ObservabilityConfig:
    return local_config(health_enabled=True, dashboard_enabled=True, **kw)


def get(port: int, path: str, method: str = "GET", headers=None):
    return http_request(port, path, method, headers)


class Stream:
    """A Server-Sent Events client on a raw HTTP connection."""

    def __init__(self, port: int, path: str = "/dashboard/events", headers=None) -> None:
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        self.conn.request("GET", path, headers=headers or {})
        self.resp = self.conn.getresponse()

    def event(self) -> tuple[str, str] | None:
        """The next (event type, data) pair, ("comment", text) for a keep-alive; None at EOF."""
        kind, data = "message", []
        while True:
            line = self.resp.fp.readline()
            if not line:
                return None
            line = line.decode().rstrip("\n")
            if line == "":
                if data:
                    return kind, "\n".join(data)
                continue
            if line.startswith(":"):
                return "comment", line[1:].strip()
            field, _, value = line.partition(": ")
            if field == "event":
                kind = value
            elif field == "data":
                data.append(value)

    def update(self) -> dict:
        while True:
            ev = self.event()
            assert ev is not None, "stream ended"
            if ev[0] == "message":
                return json.loads(ev[1])

    def close(self) -> None:
        self.resp.close()  # the response holds its own reference to the socket
        self.conn.close()


def dashboard_threads() -> int:
    return sum(1 for t in threading.enumerate() if t.name == THREAD_NAME)


# --- routes ---------------------------------------------------------------------------------
def test_dashboard_is_off_by_default(plugin, make_stack):
    stack = make_stack(plugin.event_bus, local_config(health_enabled=True))
    assert get(stack.health.port, "/dashboard")[0] == 404
    assert dashboard_url(stack) is None and stack.status.get("dashboard") is None


def test_page_and_assets_are_served_read_only_with_strict_headers(plugin, make_stack):
    stack = make_stack(plugin.event_bus, dash_config())
    port = stack.health.port
    code, headers, body = get(port, "/dashboard")
    assert code == 200 and headers["Content-Type"].startswith("text/html")
    assert b'src="/dashboard/static/dashboard.js"' in body and b"http" not in body  # no CDN
    csp = headers["Content-Security-Policy"]
    assert "default-src 'none'" in csp and "script-src 'self'" in csp
    assert headers["X-Content-Type-Options"] == "nosniff" and headers["Cache-Control"] == "no-store"
    for name, ctype in (("dashboard.js", "text/javascript"), ("dashboard.css", "text/css")):
        code, headers, body = get(port, f"/dashboard/static/{name}")
        assert code == 200 and headers["Content-Type"].startswith(ctype) and len(body) > 1000
    code, headers, body = get(port, "/dashboard", method="HEAD")
    assert code == 200 and body == b"" and int(headers["Content-Length"]) > 1000
    assert get(port, "/dashboard", method="POST")[0] == 405
    assert get(port, "/dashboard/static/../server.py")[0] == 404
    assert get(port, "/dashboard/nothing")[0] == 404
    assert get(port, "/dashboardx")[0] == 404  # a prefix match is a path segment match
    assert get(port, "/health")[0] == 200  # the health routes are untouched
    assert stack.status.get("dashboard").status.label == "healthy"


def test_token_in_the_url_or_cookie_and_never_shown(plugin, make_stack):
    stack = make_stack(plugin.event_bus, dash_config(dashboard_token=TOKEN))
    port = stack.health.port
    for path in ("/dashboard", "/dashboard/events", "/dashboard/static/dashboard.js"):
        assert get(port, path)[0] == 401
        assert get(port, path + "?token=wrong-token")[0] == 401
    code, headers, _ = get(port, f"/dashboard?token={TOKEN}")
    assert code == 200
    cookie = headers["Set-Cookie"]
    assert cookie.startswith(f"aga_otel_dashboard={TOKEN};")
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/dashboard" in cookie
    jar = {"Cookie": f"aga_otel_dashboard={TOKEN}"}
    assert get(port, "/dashboard/static/dashboard.css", headers=jar)[0] == 200
    stream = Stream(port, headers=jar)
    try:
        assert stream.resp.status == 200 and stream.event()[0] == "history"
    finally:
        stream.close()
    assert get(port, "/dashboard", headers={"Cookie": "aga_otel_dashboard=nope1234"})[0] == 401
    assert dashboard_url(stack).endswith(f"/dashboard?token={TOKEN}")
    for path in ("/health?verbose=1", "/readyz"):
        assert TOKEN not in get(port, path)[2].decode()
    assert TOKEN not in json.dumps(stack.get_stats(), default=str)


# --- the stream -------------------------------------------------------------------------------
def test_stream_sends_history_then_one_update_per_snapshot(plugin, make_stack):
    stack = make_stack(plugin.event_bus, dash_config(dashboard_verbose=True))
    stack.bind_plugin(plugin)
    simulate(plugin, steps=50, layers=4)
    stack.force_flush()
    stack.log_exporter.flush()  # the audit trail writes in batches
    stream = Stream(stack.health.port)
    try:
        assert stream.resp.getheader("Content-Type").startswith("text/event-stream")
        kind, data = stream.event()
        assert kind == "history"  # sampled while nobody watched (test_dashboard_history.py)
        kept = json.loads(data)["points"]
        first = stream.update()
        assert kept and kept[-1]["t"] <= first["time"]
        count = plugin.get_store_stats()["count"]
        simulate(plugin, steps=1, layers=4)  # new data: the next update is a new snapshot
        second = stream.update()
        while second["time"] == first["time"]:  # (an idle process reuses its snapshot)
            second = stream.update()
    finally:
        stream.close()
    assert second["time"] > first["time"]
    assert first["counters"]["aga_forward_total"] == 200.0
    assert [row["layer"] for row in second["window"]["layers"]] == ["0", "1", "2", "3"]
    assert second["identity"]["model"] == "sim-llama"
    assert second["identity"]["service"] == "aga"
    # Plugin gauges are collected at most every 2 s (the costly part of a snapshot).
    assert first["gauges"]["aga_knowledge_count"] == count
    assert second["audit"] and second["audit"][0]["operation"] in {
        "register",
        "attach",
        "unregister",
        "config_change",
        "inject",  # aga-otel's own row for a retrieval that injected facts
    }
    assert {c["name"] for c in second["health"]["checks"]} >= {"pipeline.worker", "dashboard"}
    # a page that connects later gets the points kept so far
    late = Stream(stack.health.port)
    try:
        assert len(json.loads(late.event()[1])["points"]) >= 2
    finally:
        late.close()


def test_no_work_without_a_client_and_one_loop_for_many(plugin, make_stack):
    stack = make_stack(plugin.event_bus, dash_config())
    time.sleep(1.2)
    assert dashboard_threads() == 0  # nobody watches: no loop, no snapshot
    streams = [Stream(stack.health.port) for _ in range(3)]
    try:
        assert all(s.update()["schema"] == 1 for s in streams)
        assert dashboard_threads() == 1  # one loop serves the three pages
    finally:
        for s in streams:
            s.close()
    assert wait_for(lambda: dashboard_threads() == 0, 5.0)  # the loop ends with the last client


def test_several_clients_cost_one_snapshot_and_one_encoding_per_update():
    calls = {"snapshot": 0, "produce": 0}
    step = threading.Semaphore(0)  # the test lets the loop make one update at a time

    def snapshot():
        calls["snapshot"] += 1
        return None

    model = LiveModel(snapshot)

    def produce() -> bytes:
        step.acquire(timeout=10)
        calls["produce"] += 1
        return model.update()

    hub = Broadcaster(produce, interval=0.01, max_clients=4)
    time.sleep(0.2)
    assert calls == {"snapshot": 0, "produce": 0} and not hub.stats()["running"]
    subs = [hub.subscribe() for _ in range(4)]
    assert hub.subscribe() is None  # bounded: a fifth client is refused
    for n in range(1, 4):
        step.release()
        got = [sub.next(5.0) for sub in subs]
        assert got[0] and all(g is got[0] for g in got)  # the very same bytes to every client
        assert calls == {"snapshot": n, "produce": n}  # one snapshot per update, not per client
    for sub in subs:
        sub.close()
    step.release()  # let the loop notice that nobody is left
    assert wait_for(lambda: not hub.stats()["running"], 5.0)
    assert hub.stats()["updates"] == calls["produce"] <= 4
    hub.close()
    assert hub.subscribe() is None


def test_a_closed_broadcaster_ends_waiting_clients():
    hub = Broadcaster(lambda: b"{}", interval=10.0)
    sub = hub.subscribe()
    assert sub.next(5.0) == b"{}"
    assert sub.next(0.1) == b""  # timeout: the caller sends a keep-alive
    threading.Timer(0.2, hub.close).start()
    assert sub.next(5.0) is None
    assert wait_for(lambda: not hub.stats()["running"], 5.0)


def mounted(app: DashboardApp) -> HealthMonitor:
    cfg = ObservabilityConfig(health_host="127.0.0.1", health_port=0)
    monitor = HealthMonitor(cfg, StatusBoard(), None, plugin=lambda: None,
                            bridge_stats=lambda: {}, ready=lambda: True)  # fmt: skip
    monitor.start_server()
    monitor.mount("/dashboard", app)
    return monitor


def test_bounded_clients_keep_alives_and_session_end():
    app = DashboardApp(Broadcaster(lambda: b'{"n":1}', interval=30.0, max_clients=1),
                       lambda: b'{"points":[]}', heartbeat=0.2, session_seconds=1.0)  # fmt: skip
    monitor = mounted(app)
    try:
        first = Stream(monitor.port)
        assert first.event()[0] == "history" and first.update() == {"n": 1}
        code, headers, _ = get(monitor.port, "/dashboard/events")
        assert code == 503 and headers["Retry-After"] == "10"
        assert first.event() == ("comment", "keep-alive")  # no update within the heartbeat
        started = time.monotonic()
        while first.event() is not None:  # the session ends; the browser would reconnect
            assert time.monotonic() - started < 5
        first.close()
        second = Stream(monitor.port)  # its slot is free again
        assert second.resp.status == 200
        second.close()
    finally:
        monitor.shutdown(2.0)


def test_shutdown_ends_open_streams(plugin):
    from aga_otel.stack import ObservabilityStack

    stack = ObservabilityStack(plugin.event_bus, dash_config(), env={}).start()
    stream = Stream(stack.health.port)
    stream.update()
    started = time.monotonic()
    stack.shutdown(5)
    while stream.event() is not None:
        assert time.monotonic() - started < 5
    stream.close()
    assert wait_for(lambda: dashboard_threads() == 0, 5.0)


# --- failure and configuration ------------------------------------------------------------------
class Broken:
    def __getattr__(self, name):
        def fail(*a, **k):
            raise RuntimeError(f"{name} is broken")

        return fail


def test_a_broken_component_blanks_its_panel_only(caplog):
    model = LiveModel(lambda: None, alerts=Broken(), health=Broken(), audit=Broken(),
                      plugin=lambda: Broken())  # fmt: skip
    with caplog.at_level(logging.WARNING, logger="aga_otel.live.model"):
        first = json.loads(model.update())
        second = json.loads(model.update())
    for payload in (first, second):
        assert payload["alerts"] is None and payload["health"] is None
        assert payload["audit"] is None and payload["identity"]["model"] is None
        assert payload["counters"] == {}
    logged = [r.getMessage() for r in caplog.records]
    assert len(logged) == 4, logged  # once per component, not once per update


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"dashboard_enabled": True, "health_enabled": False}, "dashboard_enabled"),
        ({"dashboard_enabled": "yes"}, "dashboard_enabled"),
        ({"dashboard_token": "short"}, "dashboard_token"),
        ({"dashboard_token": "has spaces in it"}, "dashboard_token"),
        ({"dashboard_token": "semi;colon=cookie"}, "dashboard_token"),
        ({"dashboard_token": ""}, "dashboard_token"),
    ],
)
def test_bad_dashboard_configuration_fails_at_start_up(changes, field):
    with pytest.raises(ConfigError) as err:
        ObservabilityConfig(**changes)
    assert err.value.field == field
    token = changes.get("dashboard_token")
    if token:
        assert token not in str(err.value)  # a secret is never echoed


def test_demo_prints_the_dashboard_url_and_serves_it():
    proc = subprocess.Popen(
        [sys.executable, "-m", "aga_otel", "demo", "--duration", "5", "--prometheus-port", "0",
         "--health-port", "0", "--layers", "2", "--quiet"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        url, lines = None, []
        deadline = time.monotonic() + 30
        while url is None and time.monotonic() < deadline:
            line = proc.stdout.readline()
            lines.append(line)
            m = re.search(r"live\s*: (http://\S+/dashboard)\s", line)
            url = m.group(1) if m else None
        assert url, "".join(lines)
        page = urllib.request.urlopen(url, timeout=5).read()
        assert b"<title>AGA live" in page
        proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 0


def test_a_client_that_stops_reading_is_dropped_after_the_socket_timeout():
    import socket

    hub = Broadcaster(lambda: b"x" * 1_000_000, interval=0.02)  # fills socket buffers fast
    app = DashboardApp(hub, lambda: b"{}")
    cfg = ObservabilityConfig(health_host="127.0.0.1", health_port=0)
    monitor = HealthMonitor(cfg, StatusBoard(), None, plugin=lambda: None, bridge_stats=dict,
                            ready=lambda: True, request_timeout=0.5)  # fmt: skip
    monitor.start_server()
    monitor.mount("/dashboard", app)
    try:
        with socket.socket() as stalled:
            stalled.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            stalled.connect(("127.0.0.1", monitor.port))
            stalled.sendall(b"GET /dashboard/events HTTP/1.1\r\nHost: x\r\n\r\n")
            assert wait_for(lambda: hub.stats()["clients"] == 1, 5.0)
            # never read: the server's write times out and the slot is freed
            assert wait_for(lambda: hub.stats()["clients"] == 0, 15.0)
        assert wait_for(lambda: not hub.stats()["running"], 5.0)
    finally:
        monitor.shutdown(2.0)


def test_mount_prefixes_are_path_segments():
    cfg = ObservabilityConfig(health_host="127.0.0.1", health_port=0)
    monitor = HealthMonitor(cfg, StatusBoard(), None, plugin=lambda: None, bridge_stats=dict,
                            ready=lambda: True)  # fmt: skip
    for bad in ("dashboard", "/dashboard/", ""):
        with pytest.raises(ValueError):
            monitor.mount(bad, lambda environ, start_response: [])


def test_dashboard_without_its_port_degrades_and_the_stack_runs(plugin, make_stack, caplog):
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with caplog.at_level(logging.ERROR, logger="aga_otel"):
            stack = make_stack(plugin.event_bus, dash_config(health_port=port))
    state = stack.status.get("dashboard")
    assert state.status.label == "degraded" and "no health server" in state.detail
    assert any("dashboard not served" in r.getMessage() for r in caplog.records)
    assert dashboard_url(stack) is None
    simulate(plugin, steps=5, layers=2)
    assert stack.force_flush() and stack.get_stats()["bridge"]["received"] > 0


def test_a_failing_update_is_logged_once_and_the_loop_goes_on(caplog):
    calls = {"n": 0}

    def produce() -> bytes:
        calls["n"] += 1
        if calls["n"] <= 3:
            raise RuntimeError("snapshot failed")
        return b'{"ok":true}'

    hub = Broadcaster(produce, interval=0.02)
    with caplog.at_level(logging.DEBUG, logger="aga_otel.live.broadcast"):
        sub = hub.subscribe()
        assert sub.next(5.0) == b'{"ok":true}'
    sub.close()
    hub.close()
    assert hub.stats()["failures"] == 3
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1 and "dashboard update failed" in errors[0].getMessage()


@pytest.mark.parametrize("setting", ["health_enabled: false", "dashboard_enabled: false"])
def test_demo_leaves_the_dashboard_to_a_config_file(tmp_path, setting):
    config = tmp_path / "demo.yaml"
    config.write_text(f"{setting}\nprometheus_port: 0\nhealth_port: 0\n")
    out = subprocess.run(
        [sys.executable, "-m", "aga_otel", "demo", "--duration", "1", "--quiet",
         "--config", str(config)],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert "metrics :" in out.stdout and "live    :" not in out.stdout
