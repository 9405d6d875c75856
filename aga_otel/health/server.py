"""The health HTTP server: a pure WSGI app plus a tiny ``start_health_server()``.

Shaped like prometheus_client's exposition server: ``ThreadingMixIn`` with daemon threads
(one per connection, so a client that sends half a request and stalls holds only its own
thread, and only until the socket timeout), a silent handler (probes every few seconds
must not fill the logs), and the app itself knows nothing about sockets. Malformed
request lines are answered 400 (and over-long ones 414) by ``http.server`` before the app.
"""

from __future__ import annotations

import json
import logging
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from http import HTTPStatus
from socketserver import TCPServer, ThreadingMixIn
from typing import Any, Protocol
from urllib.parse import parse_qs
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer

logger = logging.getLogger(__name__)

__all__ = ["HealthSource", "make_health_app", "server_ssl_context", "start_health_server"]

LIVE_PATH = "/livez"
READY_PATH = "/readyz"
ALIAS_PATH = "/healthz"
_ALLOWED = "GET, HEAD"
SERVER_NAME = "aga-otel"


class HealthSource(Protocol):
    """What the app asks; ``HealthMonitor`` implements it."""

    def liveness(self) -> tuple[bool, dict]: ...

    def readiness(self) -> tuple[bool, dict]: ...

    def report(self, verbose: bool = False) -> dict: ...


def make_health_app(
    source: HealthSource,
    health_path: str = "/health",
    mounts: Callable[[], Mapping[str, Callable]] | None = None,
) -> Callable:
    """A WSGI app serving ``/livez``, ``/readyz``, ``health_path`` and ``/healthz``.

    ``mounts()`` returns ``{prefix: wsgi_app}``: a request for ``prefix`` or anything below
    it goes to that app (the live dashboard mounts ``/dashboard`` this way). It is asked on
    every request, so apps can be mounted while the server runs.
    """
    routes = {LIVE_PATH: "live", READY_PATH: "ready", ALIAS_PATH: "health", health_path: "health"}

    def app(environ: dict, start_response: Callable) -> Iterable[bytes]:
        method = environ.get("REQUEST_METHOD", "GET")
        path = environ.get("PATH_INFO") or "/"
        for prefix, mounted in (mounts() if mounts is not None else {}).items():
            if path == prefix or path.startswith(prefix + "/"):
                return mounted(environ, start_response)
        route = routes.get(path if path == "/" else path.rstrip("/"))
        head = method == "HEAD"
        if route is None:
            return _respond(start_response, HTTPStatus.NOT_FOUND, {"error": "not found"}, head)
        if method not in ("GET", "HEAD"):
            return _respond(
                start_response,
                HTTPStatus.METHOD_NOT_ALLOWED,
                {"error": "method not allowed"},
                head,
                [("Allow", _ALLOWED)],
            )
        verbose = _is_verbose(environ.get("QUERY_STRING", ""))
        try:
            if route == "live":
                ok, body = source.liveness()
            elif route == "ready":
                ok, body = source.readiness()
            else:
                body = source.report(verbose=verbose)
                ok = body.get("status") != "unhealthy"  # degraded still serves traffic
        except Exception:  # the endpoint answers even when evaluation itself breaks
            logger.debug("health evaluation failed", exc_info=True)
            ok, body = False, {"status": "unhealthy", "detail": "health evaluation failed"}
        code = HTTPStatus.OK if ok else HTTPStatus.SERVICE_UNAVAILABLE
        return _respond(start_response, code, body, head, indent=2 if verbose else None)

    return app


def _is_verbose(query: str) -> bool:
    values = parse_qs(query, keep_blank_values=True).get("verbose")
    return bool(values) and values[-1].lower() not in ("0", "false", "no")


def _respond(
    start_response: Callable,
    code: HTTPStatus,
    body: Any,
    head: bool,
    extra: list[tuple[str, str]] | None = None,
    indent: int | None = None,
) -> list[bytes]:
    payload = json.dumps(body, indent=indent, default=str).encode("utf-8") + b"\n"
    headers = [
        ("Content-Type", "application/json; charset=utf-8"),
        ("Content-Length", str(len(payload))),
        ("Cache-Control", "no-store"),
        ("Server", SERVER_NAME),  # instead of wsgiref's, which names the Python version
        *(extra or []),
    ]
    start_response(f"{code.value} {code.phrase}", headers)
    return [b""] if head else [payload]  # HEAD: same headers, no body


class _NullStream:
    def write(self, _data: str) -> None: ...

    def flush(self) -> None: ...


class _SilentHandler(WSGIRequestHandler):
    """No access log, no tracebacks on stderr; a socket timeout on every connection."""

    timeout = 10.0  # overridden per server; applied by StreamRequestHandler.setup()
    # http.server answers a malformed request line "as HTTP/0.9", i.e. with a bare HTML
    # body and no status line; answer it as HTTP/1.0 so every client sees the 4xx code.
    default_request_version = "HTTP/1.0"
    server_version, sys_version = SERVER_NAME, ""  # the Server header of error answers
    error_content_type = "application/json"
    error_message_format = '{"error": "%(message)s"}\n'

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        # The default message echoes the raw request line; the status phrase is enough.
        super().send_error(code)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (stdlib name)
        pass

    def get_stderr(self) -> _NullStream:  # wsgiref writes app errors here
        return _NullStream()


POLL_INTERVAL = 2.0  # seconds between the idle accept loop's checks for shutdown


def wake(server) -> None:
    """Connect once to ``server`` so its accept loop notices a pending shutdown now."""
    host, port = server.server_address[:2]
    host = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(host, host)
    try:
        socket.create_connection((host, port), timeout=0.2).close()
    except OSError:
        pass


def stop_server(server, timeout: float) -> None:
    """``server.shutdown()`` bounded by ``timeout``, its accept loop woken at once."""
    stopper = threading.Thread(target=server.shutdown, name="aga-otel-server-stop", daemon=True)
    stopper.start()
    deadline = time.monotonic() + timeout
    while stopper.is_alive() and time.monotonic() < deadline:
        wake(server)
        stopper.join(0.05)
    server.server_close()


class _HealthServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True  # a stalled client never keeps the process alive
    request_queue_size = 128  # listen backlog; socketserver's 5 drops SYNs in a probe storm
    ssl_context: ssl.SSLContext | None = None

    def server_bind(self) -> None:
        # HTTPServer.server_bind resolves socket.getfqdn(host), a reverse DNS lookup that
        # can stall start-up for seconds; the name is only used for SERVER_NAME.
        TCPServer.server_bind(self)
        self.server_name, self.server_port = str(self.server_address[0]), self.server_address[1]
        self.setup_environ()

    def process_request_thread(self, request: socket.socket, client_address: Any) -> None:
        # ThreadingMixIn starts one unnamed thread per connection: named like every other.
        threading.current_thread().name = "aga-otel-health-request"
        super().process_request_thread(request, client_address)

    def finish_request(self, request: socket.socket, client_address: Any) -> None:
        # The TLS handshake runs here, on the connection's own thread and under its
        # timeout; wrapping the listening socket would run it in the accept loop, where
        # one silent client would block every other.
        if self.ssl_context is None:
            super().finish_request(request, client_address)
            return
        request.settimeout(self.RequestHandlerClass.timeout)
        conn = self.ssl_context.wrap_socket(request, server_side=True)
        try:
            super().finish_request(conn, client_address)
        finally:
            conn.close()

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Timeouts, resets and bad handshakes are the client's problem: debug only.
        logger.debug("health request from %s failed", client_address, exc_info=True)


def server_ssl_context(certfile: str, keyfile: str | None = None) -> ssl.SSLContext:
    """A server-side TLS context (TLS 1.2+) from a PEM certificate and key."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(certfile, keyfile)
    return ctx


def start_health_server(
    app: Callable,
    host: str = "0.0.0.0",
    port: int = 8080,
    *,
    ssl_context: ssl.SSLContext | None = None,
    request_timeout: float = 10.0,
) -> tuple[WSGIServer, threading.Thread]:
    """Serve ``app`` on a daemon thread; returns ``(server, thread)``; raises OSError."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    handler = type("HealthRequestHandler", (_SilentHandler,), {"timeout": request_timeout})
    server_cls = type(
        "HealthServer", (_HealthServer,), {"address_family": family, "ssl_context": ssl_context}
    )
    server = server_cls((host, port), handler)
    server.set_app(app)
    thread = threading.Thread(
        target=server.serve_forever,
        # Each wake-up of an idle loop costs ~70 µs of CPU here; shutdown pokes the socket
        # (see ``wake``) instead of waiting for the next poll.
        kwargs={"poll_interval": POLL_INTERVAL},
        name="aga-otel-health-server",
        daemon=True,
    )
    thread.start()
    return server, thread
