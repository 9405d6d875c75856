"""Webhook delivery, off the evaluation thread: a bounded queue and one sender thread.

``send`` only enqueues (and counts a drop when the queue is full), so a slow or dead
endpoint can never delay rule evaluation, let alone the event bridge. The sender POSTs
JSON with ``requests``; retries with exponential backoff and jitter, and ``Retry-After``
(capped), come from ``urllib3.util.Retry``. Deliveries are at-least-once: a retried POST
may arrive twice, so receivers can de-duplicate on ``fingerprint`` + ``state``.

The URL usually carries a token, so it never appears in logs, stats, health output or
error texts: failures are described by exception type or HTTP status only.

The ``alertmanager`` format follows Alertmanager's client contract as Prometheus does:
every firing alert carries an ``endsAt`` 4 × ``resend_interval`` ahead and is re-sent every
``resend_interval`` while it fires (all firing alerts in one POST, read from the engine
through :meth:`WebhookChannel.bind`), so Alertmanager never resolves it on its own; a
resolution is sent with ``endsAt`` = the time it resolved. If the process dies, its alerts
resolve in Alertmanager once their ``endsAt`` passes.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3.util import Retry

from aga_otel.alerts.model import Alert
from aga_otel.alerts.payloads import FORMATS, alertmanager_item
from aga_otel.exporters.reporting import ExportReporter
from aga_otel.status import StatusBoard

log = logging.getLogger("aga_otel.alerts.webhook")
# urllib3 logs the request path when it retries (WARNING) and on every request (DEBUG).
URLLIB3_LOGGER = "urllib3.connectionpool"

COMPONENT = "alerts.webhook"
RETRY_STATUSES = (429, 500, 502, 503, 504)
# Prometheus's alert validity: 4 resend delays (rules/alerting.go, ``resendDelay``).
VALID_FOR_RESENDS = 4
_RESEND = object()  # the sender's own wake-up: time to re-send the firing alerts


class WebhookChannel:
    """Posts alerts to one webhook URL in ``fmt`` (generic, slack or alertmanager).

    ``Retry-After`` is honoured up to 60 s (``CappedRetry.retry_after_cap``). With
    ``alertmanager``, ``resend_interval`` and ``generator_url`` shape the client contract
    (module docstring); re-sends start once :meth:`bind` gives the channel the firing alerts.
    """

    def __init__(
        self,
        url: str,
        fmt: str,
        service: dict[str, str],
        status: StatusBoard,
        *,
        queue_size: int = 256,
        connect_timeout: float = 3.0,
        read_timeout: float = 10.0,
        retries: int = 3,
        backoff_factor: float = 0.5,
        backoff_max: float = 30.0,
        resend_interval: float = 60.0,
        generator_url: str | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._url = url
        self._render = FORMATS[fmt]
        self._format = fmt
        self._service = dict(service)
        self._status = status
        self._timeout = (connect_timeout, read_timeout)
        self._clock = clock
        self._resend_interval = resend_interval
        self._generator_url = generator_url
        self._firing: Callable[[], list[Alert]] | None = None
        self._next_resend = float("inf")
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=queue_size)
        self._lock = threading.Lock()
        self._counts = {"delivered": 0, "failed": 0, "dropped": 0, "resent": 0}
        self._last_ok: float | None = None
        self._last_failure: float | None = None
        self._last_error = ""
        self._deadline = float("inf")  # set by shutdown()
        self._session = requests.Session()
        retry = CappedRetry(
            total=retries,
            connect=retries,
            read=retries,
            status=retries,
            allowed_methods=frozenset({"POST"}),  # alerts are safe to repeat (fingerprint)
            status_forcelist=RETRY_STATUSES,
            backoff_factor=backoff_factor,
            backoff_max=backoff_max,
            backoff_jitter=backoff_factor,
            respect_retry_after_header=True,
            raise_on_status=False,  # the last response is judged below, not raised
        )
        adapter = HTTPAdapter(max_retries=retry, pool_connections=1, pool_maxsize=1)
        self._session.mount("http://", adapter)
        self._session.mount("https://", adapter)
        self._redactor = UrlRedactor(url)
        logging.getLogger(URLLIB3_LOGGER).addFilter(self._redactor)
        # Outages are reported like every other sink's (no target: the URL is the secret).
        self._reporter = ExportReporter(
            status, COMPONENT, "alert webhook delivery", while_failing="alerts are not delivered"
        )
        self._thread = threading.Thread(
            target=self._run, name="aga-otel-alert-webhook", daemon=True
        )
        self._thread.start()

    def send(self, alert: Alert) -> None:
        """Queue ``alert`` for delivery; never blocks, never raises."""
        try:
            self._queue.put_nowait(alert)
        except queue.Full:
            self._fail("queue full, alert dropped", counter="dropped")

    def bind(self, firing: Callable[[], list[Alert]]) -> None:
        """Re-send what ``firing()`` returns every ``resend_interval`` (alertmanager format).

        The engine's own list is the source, so an alert whose resolution was dropped (queue
        full) stops being re-sent and expires in Alertmanager at its ``endsAt``.
        """
        if self._format == "alertmanager":
            self._firing = firing
            self._next_resend = time.monotonic() + self._resend_interval
            with contextlib.suppress(queue.Full):  # wake the sender to start its schedule
                self._queue.put_nowait(_RESEND)

    def stats(self) -> dict[str, Any]:
        """Delivery counters for health output (never the URL)."""
        with self._lock:
            return {
                "format": self._format,
                "queue_depth": self._queue.qsize(),
                "queue_capacity": self._queue.maxsize,
                **self._counts,
                "last_success": self._last_ok,
                "last_failure": self._last_failure,
                "last_error": self._last_error,
            }

    def shutdown(self, timeout: float) -> None:
        """Deliver what is queued within ``timeout`` seconds, then stop the sender."""
        self._deadline = time.monotonic() + max(0.0, timeout)
        # The sender also stops at the deadline when the queue is too full for the marker.
        with contextlib.suppress(queue.Full):
            self._queue.put_nowait(None)
        self._thread.join(max(0.0, self._deadline - time.monotonic()))
        if not self._thread.is_alive():
            self._session.close()
            logging.getLogger(URLLIB3_LOGGER).removeFilter(self._redactor)

    # --- the sender thread --------------------------------------------------------------
    def _run(self) -> None:
        while True:
            wait = max(0.0, self._next_resend - time.monotonic())
            try:
                item = self._queue.get(timeout=None if wait == float("inf") else wait)
            except queue.Empty:
                item = _RESEND
            if item is None or time.monotonic() > self._deadline:
                return
            try:
                if item is not _RESEND:
                    self._deliver(self._body(item))
                if time.monotonic() >= self._next_resend:
                    self._resend()
            except Exception as exc:  # a bug here must not kill the sender thread
                self._fail(f"unexpected {type(exc).__name__}")

    def _body(self, alert: Alert) -> Any:
        if self._format != "alertmanager":
            return self._render(alert, self._service)
        return [self._am_item(alert)]

    def _am_item(self, alert: Alert) -> dict[str, Any]:
        valid_for = VALID_FOR_RESENDS * self._resend_interval
        return alertmanager_item(alert, self._service, now=self._clock(), valid_for=valid_for,
                                 generator_url=self._generator_url)  # fmt: skip

    def _resend(self) -> None:
        self._next_resend = time.monotonic() + self._resend_interval
        firing = self._firing() if self._firing is not None else []
        if firing and self._deliver([self._am_item(a) for a in firing]):
            with self._lock:
                self._counts["resent"] += len(firing)

    def _deliver(self, body: Any) -> bool:
        try:
            resp = self._session.post(self._url, json=body, timeout=self._timeout)
        except requests.RequestException as exc:
            # str(exc) would carry the URL (and its token): report the type only.
            self._fail(type(exc).__name__)
            return False
        status = resp.status_code
        resp.close()
        if 200 <= status < 300:
            with self._lock:
                self._counts["delivered"] += 1
                self._last_ok = self._clock()
            self._reporter.succeeded(1, "delivering")
            return True
        self._fail(f"HTTP {status}")
        return False

    def _fail(self, reason: str, counter: str = "failed") -> None:
        with self._lock:
            self._counts[counter] += 1
            self._last_failure = self._clock()
            self._last_error = reason
        self._reporter.failed_with(1, reason)


class CappedRetry(Retry):
    """``Retry`` that never sleeps longer than ``retry_after_cap`` for a ``Retry-After``.

    A server asking for an hour would otherwise park the sender thread for that hour.
    (Recent urllib3 releases have ``retry_after_max``; the subclass works on every 2.x.)
    """

    retry_after_cap = 60.0

    def parse_retry_after(self, retry_after: str) -> float:
        return min(super().parse_retry_after(retry_after), self.retry_after_cap)


class UrlRedactor(logging.Filter):
    """Rewrites urllib3 log records that would show the webhook's path or query (tokens)."""

    def __init__(self, url: str) -> None:
        super().__init__()
        parts = urlsplit(url)
        secrets = [f"{parts.path}?{parts.query}" if parts.query else "", parts.query]
        if parts.path not in ("", "/"):
            secrets.append(parts.path)
        if parts.password:
            secrets.append(parts.password)
        self._secrets = [s for s in secrets if s]

    def filter(self, record: logging.LogRecord) -> bool:
        if not self._secrets:
            return True
        try:
            text = record.getMessage()
        except Exception:
            return True
        if any(s in text for s in self._secrets):
            for s in self._secrets:
                text = text.replace(s, "/<redacted>")
            record.msg, record.args = text, ()
        return True
