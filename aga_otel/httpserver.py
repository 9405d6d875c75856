"""The project's small HTTP server, shared by the health endpoints and ``/metrics``.

A WSGI app on a ``ThreadingMixIn`` server with daemon threads, one per connection, so a
client that sends half a request and stalls holds only its own thread, and only until the
per-connection socket timeout. The number of connections served at once is bounded: past
``max_connections`` a new connection is closed at once instead of queueing behind the
stalled ones. With TLS, the handshake runs on the connection's thread under its timeout,
never in the accept loop. The handler is silent (scrapes and probes every few seconds must
not fill the logs), and malformed request lines are answered 400 (over-long ones 414) by
``http.server`` before the app. Shutdown wakes the idle accept loop instead of waiting for
its next poll.
"""

from __future__ import annotations

import logging
import socket
import ssl
import threading
import time
from collections.abc import Callable
from socketserver import TCPServer, ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer

logger = logging.getLogger(__name__)

__all__ = ["server_ssl_context", "start_wsgi_server", "stop_server", "wake"]

SERVER_NAME = "aga-otel"
POLL_INTERVAL = 10.0  # seconds between the idle accept loop's checks; stop_server wakes it
MAX_CONNECTIONS = 512  # connections served at once; more are closed on accept


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


WILDCARDS = ("0.0.0.0", "::", "")


def exposure(host: str) -> str:
    """Who can reach a server bound to ``host``: the startup lines say it (docs/security.md)."""
    if host in WILDCARDS:
        return "all interfaces, no authentication"
    if host in ("localhost", "::1") or host.startswith("127."):
        return "loopback only"
    return f"interface {host} only"


def url_host(host: str) -> str:
    """``host`` as it goes in a URL a person opens: a wildcard bind as ``localhost``."""
    if host in WILDCARDS:
        return "localhost"
    return f"[{host}]" if ":" in host else host


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


class _ThreadedServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True  # a stalled client never keeps the process alive
    block_on_close = False  # server_close does not wait for connection threads
    request_queue_size = 128  # listen backlog; socketserver's 5 drops SYNs in a probe storm
    ssl_context: ssl.SSLContext | None = None
    max_connections = MAX_CONNECTIONS
    label = "http"  # names the threads and the debug lines

    def server_bind(self) -> None:
        # HTTPServer.server_bind resolves socket.getfqdn(host), a reverse DNS lookup that
        # can stall start-up for seconds; the name is only used for SERVER_NAME.
        TCPServer.server_bind(self)
        self.server_name, self.server_port = str(self.server_address[0]), self.server_address[1]
        self.setup_environ()
        self.slots = threading.BoundedSemaphore(self.max_connections)
        self.refused = 0  # connections closed on accept because every slot was taken

    def process_request(self, request: socket.socket, client_address: Any) -> None:
        if not self.slots.acquire(blocking=False):
            self.refused += 1
            self.shutdown_request(request)
            return
        # ThreadingMixIn's own thread is unnamed until it runs; named here, from its start.
        # No join at server_close (block_on_close is off): a stalled client must not hold
        # up a bounded shutdown; the threads are daemons and end with their socket timeout.
        thread = threading.Thread(
            target=self.process_request_thread, args=(request, client_address),
            name=f"aga-otel-{self.label}-conn", daemon=True,
        )  # fmt: skip
        try:
            thread.start()
        except Exception:  # the thread could not start: give the slot back
            self.slots.release()
            self.shutdown_request(request)
            raise

    def process_request_thread(self, request: socket.socket, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self.slots.release()

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
        logger.debug("%s request from %s failed", self.label, client_address, exc_info=True)


def server_ssl_context(certfile: str, keyfile: str | None = None) -> ssl.SSLContext:
    """A server-side TLS context (TLS 1.2+) from a PEM certificate and key."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(certfile, keyfile)
    return ctx


def start_wsgi_server(
    app: Callable,
    host: str,
    port: int,
    *,
    label: str,
    ssl_context: ssl.SSLContext | None = None,
    request_timeout: float = 10.0,
    max_connections: int = MAX_CONNECTIONS,
) -> tuple[WSGIServer, threading.Thread]:
    """Serve ``app`` on a daemon thread ``aga-otel-<label>-server``; raises OSError."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    handler = type("RequestHandler", (_SilentHandler,), {"timeout": request_timeout})
    attrs = {
        "address_family": family,
        "ssl_context": ssl_context,
        "label": label,
        "max_connections": max_connections,
    }
    server = type("Server", (_ThreadedServer,), attrs)((host, port), handler)
    server.set_app(app)
    thread = threading.Thread(
        target=server.serve_forever,
        # Each wake-up of an idle loop costs ~70 µs of CPU here; shutdown pokes the socket
        # (see ``wake``) instead of waiting for the next poll.
        kwargs={"poll_interval": POLL_INTERVAL},
        name=f"aga-otel-{label}-server",
        daemon=True,
    )
    thread.start()
    return server, thread
