"""The health HTTP server: a pure WSGI app plus a tiny ``start_health_server()``.

The app knows nothing about sockets; it is served by :mod:`aga_otel.httpserver` (per
connection timeouts, bounded connections, TLS handshakes off the accept path), which
serves ``/metrics`` too.
"""

from __future__ import annotations

import json
import logging
import ssl
import threading
from collections.abc import Callable, Iterable, Mapping
from http import HTTPStatus
from typing import Any, Protocol
from urllib.parse import parse_qs
from wsgiref.simple_server import WSGIServer

from aga_otel.httpserver import SERVER_NAME, server_ssl_context, start_wsgi_server, stop_server

logger = logging.getLogger(__name__)

__all__ = [
    "HealthSource",
    "make_health_app",
    "server_ssl_context",
    "start_health_server",
    "stop_server",
]

LIVE_PATH = "/livez"
READY_PATH = "/readyz"
ALIAS_PATH = "/healthz"
_ALLOWED = "GET, HEAD"


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


def start_health_server(
    app: Callable,
    host: str = "127.0.0.1",
    port: int = 8080,
    *,
    ssl_context: ssl.SSLContext | None = None,
    request_timeout: float = 10.0,
) -> tuple[WSGIServer, threading.Thread]:
    """Serve ``app`` on a daemon thread; returns ``(server, thread)``; raises OSError."""
    return start_wsgi_server(
        app, host, port, label="health", ssl_context=ssl_context, request_timeout=request_timeout
    )
