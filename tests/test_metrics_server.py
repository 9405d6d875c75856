"""Issue 14 item 11: ``/metrics`` on the project's own HTTP server, through real sockets."""

from __future__ import annotations

import gzip
import http.client
import socket
import ssl
import threading
import time

import pytest
from conftest import http_request, local_config, simulate
from prometheus_client.parser import text_string_to_metric_families

from aga_otel import semconv as sc
from aga_otel.exporters.prometheus import PrometheusEndpoint, make_metrics_app
from aga_otel.httpserver import start_wsgi_server, stop_server
from aga_otel.status import Status, StatusBoard

EVENTS = sc.metric("events_received").prometheus_name


def request(port, method="GET", path="/metrics", headers=None, tls=None, timeout=5.0):
    return http_request(port, path, method, headers, tls=tls, timeout=timeout)


def events_total(body: bytes) -> float:
    for family in text_string_to_metric_families(body.decode()):
        for s in family.samples:
            if s.name == EVENTS:
                return s.value
    raise AssertionError(f"{EVENTS} not in the scrape")


def stalled(port: int, n: int) -> list[socket.socket]:
    """``n`` clients that send half a request line and then say nothing."""
    socks = []
    for _ in range(n):
        s = socket.create_connection(("127.0.0.1", port), timeout=5)
        s.sendall(b"GET /metr")
        socks.append(s)
    return socks


def conn_threads() -> int:
    return sum(t.name == "aga-otel-prometheus-conn" for t in threading.enumerate())


@pytest.fixture
def served(plugin, make_stack):
    stack = make_stack(plugin.event_bus, local_config())
    simulate(plugin, steps=5)
    stack.force_flush()
    return stack


def test_paths_methods_head_and_negotiation(served):
    port = served.prometheus.port
    for path in ("/metrics", "/"):
        status, headers, body = request(port, path=path)
        assert status == 200 and headers["Content-Type"].startswith("text/plain")
        assert events_total(body) > 0
    assert request(port, path="/other")[0] == 404
    assert request(port, path="/metrics/x")[0] == 404
    status, headers, _ = request(port, "POST")
    assert status == 405 and headers["Allow"] == "GET, HEAD"
    status, headers, body = request(port, "HEAD")
    assert status == 200 and body == b"" and int(headers["Content-Length"]) > 0
    om = "application/openmetrics-text; version=1.0.0; charset=utf-8"
    status, headers, body = request(port, headers={"Accept": om})
    assert headers["Content-Type"].startswith("application/openmetrics-text")
    assert body.rstrip().endswith(b"# EOF")
    status, headers, body = request(port, headers={"Accept-Encoding": "gzip"})
    assert headers["Content-Encoding"] == "gzip" and events_total(gzip.decompress(body)) > 0


def test_300_stalled_connections_do_not_stop_a_scrape(served):
    port = served.prometheus.port
    socks = stalled(port, 300)
    try:
        status, _, body = request(port)
        assert status == 200 and events_total(body) > 0
    finally:
        for s in socks:
            s.close()


def test_idle_connections_time_out_and_free_their_threads():
    status = StatusBoard()
    endpoint = PrometheusEndpoint(lambda: None, status, "127.0.0.1", 0, request_timeout=0.3)
    endpoint.start()
    socks = stalled(endpoint.port, 20)
    try:
        deadline = time.monotonic() + 15
        while conn_threads() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert conn_threads() == 0
        assert all(s.recv(1024) == b"" for s in socks)  # timed out and closed by the server
        assert request(endpoint.port)[0] == 200
    finally:
        for s in socks:
            s.close()
        endpoint.shutdown(2)


def test_connections_are_bounded_and_the_extra_one_is_closed_not_queued():
    from prometheus_client import CollectorRegistry

    server, _ = start_wsgi_server(
        make_metrics_app(CollectorRegistry()), "127.0.0.1", 0, label="bounded",
        request_timeout=30, max_connections=3,
    )  # fmt: skip
    port = server.server_port
    socks = stalled(port, 3)
    try:
        extra = socket.create_connection(("127.0.0.1", port), timeout=5)
        extra.sendall(b"GET /metrics HTTP/1.0\r\n\r\n")
        assert extra.recv(1024) == b""  # closed at once, not held behind the stalled three
        extra.close()
        socks.pop().close()  # one slot back: the next scrape is served
        deadline = time.monotonic() + 10
        while server.slots._value == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert request(port)[0] == 200 and server.refused >= 1
    finally:
        for s in socks:
            s.close()
        stop_server(server, 2)


def test_an_idle_tcp_client_does_not_delay_a_tls_scrape(plugin, make_stack, cert):
    crt, key = cert
    stack = make_stack(
        plugin.event_bus, local_config(server_tls_certfile=crt, server_tls_keyfile=key)
    )
    simulate(plugin, steps=3)
    stack.force_flush()
    port = stack.prometheus.port
    assert stack.status.get("metrics.prometheus").detail.startswith("serving https://")
    idle = socket.create_connection(("127.0.0.1", port), timeout=5)  # never says hello
    try:
        tls = ssl.create_default_context(cafile=crt)
        # The accept loop must not be stuck in the idle client's handshake: a 3 s client
        # timeout is what the prometheus_client server failed (issue 14 item 11).
        status, _, body = request(port, tls=tls, timeout=3)
        assert status == 200 and events_total(body) > 0
        with pytest.raises((OSError, http.client.HTTPException)):
            request(port)  # plain HTTP on a TLS port is refused, not served
    finally:
        idle.close()


def test_busy_port_degrades_with_the_bind_line(caplog, busy_port):
    status = StatusBoard()
    endpoint = PrometheusEndpoint(lambda: None, status, "127.0.0.1", busy_port, fallback="x")
    assert endpoint.start() is None
    assert status.get("metrics.prometheus").status is Status.UNHEALTHY
    assert any(f"could not bind 127.0.0.1:{busy_port}" in r.getMessage() for r in caplog.records)
