"""The dashboard's WSGI app: one page, its script and style, and a Server-Sent Events stream.

Mounted on the health server at ``/dashboard``::

    /dashboard               the page (sets the token cookie when ``?token=`` is given)
    /dashboard/static/NAME   dashboard.js, dashboard.css (files of aga_otel/live/static)
    /dashboard/events        text/event-stream: ``event: history`` once, then one ``data:``
                             message per update, a comment line as keep-alive

Read-only: GET and HEAD only. With a token configured every path needs it, in the
``token`` query parameter or the ``aga_otel_dashboard`` cookie (EventSource cannot send
headers); it is compared in constant time and never echoed. A stream ends after
``session_seconds`` (the browser reconnects, and the token is checked again); one whose
client stops reading fails its next write after the server's socket timeout.
"""

from __future__ import annotations

import hmac
import json
import time
from collections.abc import Callable, Iterable, Iterator
from http import HTTPStatus
from http.cookies import CookieError, SimpleCookie
from importlib import resources
from urllib.parse import parse_qs

from aga_otel.live.broadcast import Broadcaster

PREFIX = "/dashboard"
COOKIE = "aga_otel_dashboard"
STATIC = {"dashboard.js": "text/javascript", "dashboard.css": "text/css"}
_SECURITY_HEADERS = [
    ("Cache-Control", "no-store"),
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "no-referrer"),  # the token may be in the page's URL
    ("X-Frame-Options", "DENY"),
    ("Content-Security-Policy",
     "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
     "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"),
    ("Server", "aga-otel"),
]  # fmt: skip


def _static(name: str) -> bytes:
    return resources.files("aga_otel.live").joinpath("static", name).read_bytes()


class DashboardApp:
    """WSGI app for ``/dashboard``; ``close()`` ends every open stream."""

    def __init__(
        self,
        broadcaster: Broadcaster,
        history: Callable[[], bytes],
        token: str | None = None,
        *,
        heartbeat: float = 15.0,
        session_seconds: float = 1800.0,
        secure_cookie: bool = False,
    ) -> None:
        self.broadcaster = broadcaster
        self._history = history
        self._token = token.encode() if token else None
        self.heartbeat = heartbeat
        self.session_seconds = session_seconds
        self._secure = secure_cookie
        self._files = {name: _static(name) for name in STATIC}
        self._files["index"] = _static("dashboard.html")

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        method = environ.get("REQUEST_METHOD", "GET")
        path = (environ.get("PATH_INFO") or "/").rstrip("/") or "/"
        head = method == "HEAD"
        if method not in ("GET", "HEAD"):
            return _plain(start_response, HTTPStatus.METHOD_NOT_ALLOWED, head,
                          [("Allow", "GET, HEAD")])  # fmt: skip
        query = parse_qs(environ.get("QUERY_STRING", ""))
        given = (query.get("token") or [None])[-1]
        if not self._authorised(given, environ.get("HTTP_COOKIE", "")):
            return _plain(start_response, HTTPStatus.UNAUTHORIZED, head)
        if path == PREFIX:
            extra = []
            if self._token is not None and given is not None:  # remember it for the stream
                flags = "; Secure" if self._secure else ""
                token = self._token.decode()
                extra.append(("Set-Cookie", f"{COOKIE}={token}; Path={PREFIX}; HttpOnly; "
                                            f"SameSite=Strict{flags}"))  # fmt: skip
            return _file(start_response, self._files["index"], "text/html", head, extra)
        name = path[len(PREFIX + "/static/") :] if path.startswith(PREFIX + "/static/") else None
        if name in STATIC:
            return _file(start_response, self._files[name], STATIC[name], head)
        if path == PREFIX + "/events":
            return self._events(start_response, head)
        return _plain(start_response, HTTPStatus.NOT_FOUND, head)

    def _authorised(self, given: str | None, cookie_header: str) -> bool:
        if self._token is None:
            return True
        if given is None:
            try:
                morsel = SimpleCookie(cookie_header).get(COOKIE)
            except CookieError:
                morsel = None
            given = morsel.value if morsel is not None else None
        return given is not None and hmac.compare_digest(given.encode(), self._token)

    def _events(self, start_response: Callable, head: bool) -> Iterable[bytes]:
        sub = None if head else self.broadcaster.subscribe()
        if sub is None and not head:
            return _plain(start_response, HTTPStatus.SERVICE_UNAVAILABLE, head,
                          [("Retry-After", "10")])  # fmt: skip
        start_response("200 OK", [("Content-Type", "text/event-stream; charset=utf-8"),
                                  ("X-Accel-Buffering", "no"), *_SECURITY_HEADERS])  # fmt: skip
        return [b""] if sub is None else _Response(self._stream(sub), sub)

    def _stream(self, sub) -> Iterator[bytes]:
        try:
            yield b"retry: 2000\nevent: history\ndata: " + self._history() + b"\n\n"
            ends = time.monotonic() + self.session_seconds
            while (left := ends - time.monotonic()) > 0:
                payload = sub.next(min(self.heartbeat, left))
                if payload is None:  # the dashboard closed
                    return
                yield (b"data: " + payload + b"\n\n") if payload else b": keep-alive\n\n"
        finally:  # also on a failed write: wsgiref closes the generator
            sub.close()

    def close(self) -> None:
        self.broadcaster.close()


class _Response:
    """The stream as a WSGI result whose ``close()`` frees the client's slot even when the
    server fails before iterating it (a generator's ``finally`` would not run then)."""

    def __init__(self, chunks: Iterator[bytes], sub) -> None:
        self._chunks, self._sub = chunks, sub

    def __iter__(self) -> Iterator[bytes]:
        return self._chunks

    def close(self) -> None:
        try:
            self._chunks.close()
        finally:
            self._sub.close()


def _file(start_response, body: bytes, ctype: str, head: bool, extra=()) -> list[bytes]:
    start_response("200 OK", [("Content-Type", f"{ctype}; charset=utf-8"),
                              ("Content-Length", str(len(body))), *_SECURITY_HEADERS,
                              *extra])  # fmt: skip
    return [b""] if head else [body]


def _plain(start_response, code: HTTPStatus, head: bool, extra=()) -> list[bytes]:
    body = json.dumps({"error": code.phrase.lower()}).encode() + b"\n"
    start_response(f"{code.value} {code.phrase}", [
        ("Content-Type", "application/json"), ("Content-Length", str(len(body))),
        *_SECURITY_HEADERS, *extra,
    ])  # fmt: skip
    return [b""] if head else [body]
