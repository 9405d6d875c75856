"""One way to report an outage, for every exporter, writer and webhook; bounded shutdowns.

Every sink that sends data somewhere (OTLP/console/custom metric exporters, the OTLP log
and span exporters, the audit store writer, the alert webhook) reports each outcome to an
:class:`ExportReporter`. It puts the outcome on the status board (health, ``get_stats``),
counts each failed attempt in ``aga_otel_export_failures_total{exporter}``, and logs one
line when an outage starts and one when it ends, both at :data:`LOG_LEVEL`, never one per
failed attempt. Every target and error it shows has its credentials redacted.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Sequence
from typing import Any

from aga_otel.redaction import redact_text, redact_url
from aga_otel.status import StatusBoard

logger = logging.getLogger(__name__)

#: The one level for outage and recovery lines: a failing sink degrades itself, never aga-core.
LOG_LEVEL = logging.WARNING


class ExportReporter:
    """Counts the outcomes of one sink and reports its outage state transitions.

    ``what`` names the operation for humans ("OTLP log export", "audit sqlite store
    write"); ``target`` is where it goes (a URL or path, redacted here); ``exporter`` is
    the ``exporter`` attribute of the failure counter (the component name by default);
    ``failures`` a counter of its own, else the status board's (see
    :meth:`StatusBoard.set_failure_counter`); ``while_failing`` what happens to data
    during the outage.
    """

    def __init__(
        self,
        status: StatusBoard,
        component: str,
        what: str,
        target: str = "",
        *,
        exporter: str | None = None,
        failures: Any = None,
        while_failing: str = "dropped until it recovers",
    ) -> None:
        self.status, self.component, self.what = status, component, what
        self.target = redact_url(target) if target else ""
        self.exporter = exporter or component
        self.failures = failures
        self.while_failing = while_failing
        self.exported = self.failed = 0
        self._failing = False
        self._lock = threading.Lock()
        status.register(component, self.target)
        status.export_failed(self.exporter, 0, counter=failures)  # the series exists from start

    @property
    def failing(self) -> bool:
        return self._failing

    def _where(self) -> str:
        return f" ({self.target})" if self.target else ""

    def succeeded(self, n: int = 1, detail: str | None = None, **extra: Any) -> None:
        with self._lock:
            self.exported += n
            recovered, self._failing = self._failing, False
        if recovered:
            logger.log(LOG_LEVEL, "aga-otel: %s recovered%s", self.what, self._where())
        self.status.success(self.component, self.target if detail is None else detail, **extra)

    def failed_with(self, n: int, error: Any, **extra: Any) -> bool:
        """Record one failed attempt carrying ``n`` items; True when it starts an outage."""
        error = redact_text(str(error))
        with self._lock:
            self.failed += n
            started, self._failing = not self._failing, True
        self.status.export_failed(self.exporter, counter=self.failures)
        self.status.failure(self.component, f"{self.what} failed{self._where()}: {error}", **extra)
        if started:
            logger.log(
                LOG_LEVEL,
                "aga-otel: %s failed%s: %s; %s",
                self.what,
                self._where(),
                error,
                self.while_failing,
            )
        return started


class ReportingExporter:
    """Wraps an OTel log or span exporter: every outcome goes to an ``ExportReporter``;
    ``export`` never raises. ``success``/``failure`` are the signal's result values."""

    def __init__(self, inner: Any, reporter: ExportReporter, success: Any, failure: Any) -> None:
        self.inner, self.reporter = inner, reporter
        self._success, self._failure = success, failure
        self._pid = os.getpid()

    @property
    def exported(self) -> int:
        return self.reporter.exported

    @property
    def failed(self) -> int:
        return self.reporter.failed

    def export(self, items: Sequence[Any]) -> Any:
        try:
            result = self.inner.export(items)
        except Exception as exc:  # exporters should not raise; never trust it
            self.reporter.failed_with(len(items), f"{type(exc).__name__}: {exc}")
            return self._failure
        if result == self._success:
            self.reporter.succeeded(len(items))
        else:
            self.reporter.failed_with(len(items), "export rejected")
        return result

    def shutdown(self) -> None:
        if os.getpid() != self._pid:  # inherited over fork(): the connection is the parent's
            return
        try:
            self.inner.shutdown()
        except Exception as exc:
            logger.debug("exporter shutdown failed: %r", exc)

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True


def run_bounded(fn: Callable[[], None], timeout: float, name: str) -> bool:
    """Run ``fn`` on a daemon thread, waiting at most ``timeout`` seconds.

    Exporter shutdowns can block on a dead collector; the caller's deadline wins and the
    thread is abandoned. Returns False (and logs) when ``fn`` did not finish in time.
    """

    def guarded() -> None:
        try:
            fn()
        except Exception as exc:
            logger.warning("%s failed: %r", name, exc)

    t = threading.Thread(target=guarded, name=f"aga-otel-{name}", daemon=True)
    t.start()
    t.join(max(0.1, timeout))
    if t.is_alive():
        logger.warning("%s did not finish within %.1f s; abandoned", name, timeout)
        return False
    return True
