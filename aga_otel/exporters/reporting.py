"""Export outcome reporting and bounded shutdowns, shared by the log and span pipelines."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from typing import Any

from aga_otel.status import StatusBoard

logger = logging.getLogger(__name__)


class ExportReporter:
    """Counts exported/failed items of one exporter and reports the state transitions.

    Signal-agnostic: the status board gets every outcome, the log one line when an outage
    starts and one when it ends (not one per failed batch).
    """

    def __init__(self, status: StatusBoard, component: str, what: str, endpoint: str) -> None:
        self.status, self.component, self.what, self.endpoint = status, component, what, endpoint
        self.exported = self.failed = 0
        self._failing = False
        status.register(component, endpoint)

    def succeeded(self, n: int) -> None:
        self.exported += n
        if self._failing:
            self._failing = False
            logger.warning("OTLP %s export to %s recovered", self.what, self.endpoint)
        self.status.success(self.component, self.endpoint)

    def failed_with(self, n: int, error: str) -> None:
        self.failed += n
        self.status.failure(
            self.component, f"OTLP {self.what} export to {self.endpoint} failed: {error}"
        )
        if not self._failing:
            self._failing = True
            logger.error(
                "OTLP %s export to %s failed (%s); dropped until it recovers",
                self.what,
                self.endpoint,
                error,
            )


class ReportingExporter:
    """Wraps an OTel log or span exporter: every outcome goes to an ``ExportReporter``;
    ``export`` never raises. ``success``/``failure`` are the signal's result values."""

    def __init__(self, inner: Any, reporter: ExportReporter, success: Any, failure: Any) -> None:
        self.inner, self.reporter = inner, reporter
        self._success, self._failure = success, failure

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
