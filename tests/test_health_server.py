"""The health HTTP server over real sockets on 127.0.0.1."""

from __future__ import annotations

import http.client
import json
import logging
import socket
import ssl
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from aga_otel.config import ObservabilityConfig
from aga_otel.contract import SimulatedPlugin
from aga_otel.health import HealthMonitor
from aga_otel.status import Status, StatusBoard


class Server:
    """A HealthMonitor serving on an ephemeral port, with switchable inputs."""

    def __init__(self, **config) -> None:
        self.plugin = SimulatedPlugin()
        self.plugin.attach("llama", 4)
        self.stats = {"worker_alive": True, "subscribed": True, "queue_depth": 0,
                      "queue_capacity": 100}  # fmt: skip
        self.ready = True
        self.status = StatusBoard()
        cfg = ObservabilityConfig(**{"health_host": "127.0.0.1", "health_port": 0, **config})
        self.monitor = HealthMonitor(
            cfg, self.status, None, plugin=lambda: self.plugin,
            bridge_stats=lambda: self.stats, ready=lambda: self.ready, cache_ttl=0.0,
            check_timeout=0.3, request_timeout=0.5,
        )  # fmt: skip
        self.port = self.monitor.start_server()

    def request(self, path: str, method: str = "GET", timeout: float = 10.0):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            conn.request(method, path)
            resp = conn.getresponse()
            return resp.status, dict(resp.getheaders()), resp.read()
        finally:
            conn.close()

    def code(self, path: str) -> int:
        return self.request(path)[0]

    def raw(self, payload: bytes) -> bytes:
        with socket.create_connection(("127.0.0.1", self.port), timeout=10) as s:
            s.sendall(payload)
            return _read_all(s)


def _read_all(sock: socket.socket) -> bytes:
    chunks = []
    while chunk := sock.recv(65536):
        chunks.append(chunk)
    return b"".join(chunks)


@pytest.fixture
def srv():
    server = Server()
    assert server.port
    yield server
    server.monitor.shutdown(2.0)


ALL = ("/livez", "/readyz", "/health", "/healthz")


@pytest.mark.parametrize(
    ("state", "codes"),
    [
        ("healthy", (200, 200, 200, 200)),
        ("degraded", (200, 200, 200, 200)),
        ("unhealthy_check", (200, 200, 503, 503)),
        ("worker_dead", (503, 503, 503, 503)),
        ("not_ready", (200, 503, 200, 200)),
        ("audit_unwritable", (200, 503, 503, 503)),
    ],
)
def test_status_codes_for_each_state(srv, state, codes):
    if state == "degraded":
        srv.plugin.detach()
    elif state == "unhealthy_check":
        srv.plugin.gate_system.weights.values[0] = float("inf")
    elif state == "worker_dead":
        srv.stats["worker_alive"] = False
    elif state == "not_ready":
        srv.ready = False
    elif state == "audit_unwritable":
        srv.status.failure("audit", "read-only file system", Status.UNHEALTHY)
    assert tuple(srv.code(p) for p in ALL) == codes
    status, headers, body = srv.request("/health")
    assert headers["Content-Type"].startswith("application/json")
    assert headers["Server"] == "aga-otel"  # no Python version disclosed
    assert json.loads(body)["status"] == {
        "not_ready": "healthy",
        "worker_dead": "unhealthy",
        "audit_unwritable": "unhealthy",
        "unhealthy_check": "unhealthy",
    }.get(state, state)


def test_head_verbose_404_405(srv):
    _, get_headers, body = srv.request("/readyz")
    status, headers, head_body = srv.request("/readyz", "HEAD")
    assert status == 200 and head_body == b""
    assert headers["Content-Length"] == get_headers["Content-Length"] == str(len(body))
    compact = srv.request("/health")[2]
    verbose = srv.request("/health?verbose")[2]
    assert b"\n  " in verbose and b"\n  " not in compact
    assert "data" in json.loads(verbose)["checks"]["plugin.knowledge_store"]
    assert "data" not in json.loads(srv.request("/health?verbose=0")[2])["checks"]["plugin.gate"]
    for path in ("/", "/metrics", "/health/x", "/livezz"):
        assert srv.code(path) == 404
    status, headers, _ = srv.request("/health", "POST")
    assert status == 405 and headers["Allow"] == "GET, HEAD"
    assert srv.request("/livez", "DELETE")[0] == 405
    assert srv.request("/nowhere", "POST")[0] == 404


def test_custom_health_path():
    server = Server(health_path="/status")
    try:
        assert server.code("/status") == 200 and server.code("/healthz") == 200
        assert server.code("/health") == 404
    finally:
        server.monitor.shutdown(2.0)


def test_a_thousand_requests_from_sixteen_threads(srv):
    paths = [ALL[i % 4] for i in range(1000)]
    with ThreadPoolExecutor(16) as pool:
        codes = list(pool.map(srv.code, paths))
    assert len(codes) == 1000 and set(codes) == {200}


def test_stalled_clients_do_not_block_others(srv):
    stalled = []
    for payload in (b"GET /health HTTP/1.1\r\nHost: x", b"", b"GET /hea"):
        s = socket.create_connection(("127.0.0.1", srv.port), timeout=10)
        s.sendall(payload)
        stalled.append(s)
    try:
        assert [srv.code("/livez") for _ in range(20)] == [200] * 20
        for s in stalled:  # the server's socket timeout (0.5 s here) closes each of them
            assert b" 200 " not in _read_all(s)
    finally:
        for s in stalled:
            s.close()
    assert srv.code("/health") == 200


@pytest.mark.parametrize(
    ("payload", "code"),
    [
        (b"GARBAGE\r\n\r\n", b"400"),
        (b"GET /health HTTP/1.1 extra\r\n\r\n", b"400"),
        (b"GET /health HTTP/x.y\r\n\r\n", b"400"),
        (b"GET /health HTTP/9.9\r\n\r\n", b"505"),
        (b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n", b"400"),  # TLS to plain port
        (b"GET /" + b"a" * 70000 + b" HTTP/1.1\r\n\r\n", b"414"),
    ],
)
def test_malformed_request_lines(srv, payload, code):
    answer = srv.raw(payload)
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.split(b"\r\n", 1)[0].split(b" ")[1] == code
    assert json.loads(body)["error"]  # a fixed phrase, never an echo of the request
    assert b"Python" not in head
    assert srv.code("/livez") == 200


def test_check_that_raises(srv):
    def boom():
        raise RuntimeError("password=hunter2 rejected")

    srv.monitor.add_check("raises", boom)
    status, _, body = srv.request("/health")
    check = json.loads(body)["checks"]["raises"]
    assert status == 503 and check["status"] == "unhealthy"
    assert check["detail"] == "check raised RuntimeError: password=<redacted> rejected"


def test_check_that_hangs_does_not_hang_the_endpoint(srv):
    release = threading.Event()
    srv.plugin.get_store_stats = lambda: release.wait(30)
    try:
        for _ in range(3):
            status, _, body = srv.request("/health", timeout=10)
            store = json.loads(body)["checks"]["plugin.knowledge_store"]
            assert status == 503 and store["status"] == "unhealthy"
            assert "timed out" in store["detail"]
        assert srv.code("/livez") == 200 and srv.code("/readyz") == 200
    finally:
        release.set()


def test_port_in_use_is_a_clear_error_and_the_rest_works(caplog):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        caplog.set_level(logging.ERROR, logger="aga_otel.health")
        server = Server(health_port=taken.getsockname()[1])
        try:
            assert server.port is None and server.monitor.port is None
            errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
            assert len(errors) == 1 and "could not start" in errors[0].getMessage()
            assert "telemetry continues" in errors[0].getMessage()
            state = server.status.get("health.server")
            assert state.status is Status.UNHEALTHY and "could not listen" in state.detail
            report = server.monitor.report()  # checks, gauge and consumer keep working
            assert report["checks"]["plugin.gate"]["status"] == "healthy"
            assert report["checks"]["health.server"]["status"] == "unhealthy"
        finally:
            server.monitor.shutdown(2.0)


def test_ipv6_loopback():
    try:
        socket.create_server(("::1", 0), family=socket.AF_INET6).close()
    except OSError:
        pytest.skip("no IPv6 loopback here")
    server = Server(health_host="::1")
    try:
        conn = http.client.HTTPConnection("::1", server.port, timeout=10)
        conn.request("GET", "/livez")
        assert conn.getresponse().status == 200
        conn.close()
    finally:
        server.monitor.shutdown(2.0)


def test_shutdown_closes_the_port(srv):
    port = srv.port
    srv.monitor.shutdown(2.0)
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=2).close()


def test_tls(cert):
    crt, key = cert
    server = Server(server_tls_certfile=crt, server_tls_keyfile=key)
    stalled = socket.create_connection(("127.0.0.1", server.port), timeout=10)  # no handshake
    try:
        ctx = ssl.create_default_context(cafile=crt)
        conn = http.client.HTTPSConnection("127.0.0.1", server.port, context=ctx, timeout=10)
        conn.request("GET", "/readyz")
        resp = conn.getresponse()
        assert resp.status == 200 and json.loads(resp.read())["status"] == "ready"
        conn.close()
        assert server.status.get("health.server").detail.startswith("https on")
        with pytest.raises((http.client.HTTPException, OSError)):
            server.request("/livez", timeout=5)
    finally:
        stalled.close()
        server.monitor.shutdown(2.0)


def test_bad_certificate_degrades_only_the_server(tmp_path):
    missing = str(tmp_path / "missing.pem")
    server = Server(server_tls_certfile=missing, server_tls_keyfile=missing)
    try:
        assert server.port is None
        assert server.status.get("health.server").status is Status.UNHEALTHY
        assert server.monitor.report()["checks"]["pipeline.worker"]["status"] == "healthy"
    finally:
        server.monitor.shutdown(2.0)
