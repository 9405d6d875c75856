"""``HealthMonitor``: the health checks as a pipeline component.

It is a ``MetricsConsumer`` on the shared reader: every ``interval`` seconds it receives a
cumulative snapshot (from which it derives the drop rate), re-runs every check and keeps
the result, which feeds the ``aga.health.status{component}`` gauge and the HTTP server.
HTTP requests reuse a result younger than ``cache_ttl`` seconds, and concurrent requests
on an expired result wait for a single refresh, so a probe storm costs one check run per
TTL, never one plugin call per request.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from functools import partial
from typing import Any

from opentelemetry.metrics import CallbackOptions, Observation
from opentelemetry.sdk.metrics.export import MetricsData

from aga_otel import semconv
from aga_otel.config import ObservabilityConfig
from aga_otel.health.pipeline_checks import (
    DropRateTracker,
    check_queue,
    check_worker,
    component_result,
)
from aga_otel.health.plugin_checks import plugin_checks
from aga_otel.health.result import CheckResult
from aga_otel.health.runner import Check, CheckRunner
from aga_otel.health.server import (
    make_health_app,
    server_ssl_context,
    start_health_server,
    stop_server,
)
from aga_otel.status import Status, StatusBoard

logger = logging.getLogger(__name__)

__all__ = ["HealthMonitor"]

SERVER_COMPONENT = "health.server"
AUDIT_COMPONENT = "audit"
AUDIT_LANE = "audit.lane"  # set by the bridge (aga_otel.bridge.AUDIT_LANE)
OVERALL = "overall"  # the gauge's component label for the worst status


@dataclass(frozen=True)
class _Evaluation:
    status: Status
    results: dict[str, tuple[CheckResult, float]]  # name -> (result, duration s)
    timestamp: float  # wall clock, for the report
    at: float  # monotonic clock, for the cache


class HealthMonitor:
    """Component checks, probes, the health gauge and the health HTTP server."""

    name = "health"

    def __init__(
        self,
        config: ObservabilityConfig,
        status: StatusBoard,
        meter: Any = None,
        *,
        plugin: Callable[[], object | None],
        bridge_stats: Callable[[], Mapping],
        ready: Callable[[], bool],
        interval: float = 5.0,
        check_timeout: float = 0.8,
        cache_ttl: float = 2.0,
        request_timeout: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self.config = config
        self.status = status
        self.interval = interval
        self.cache_ttl = cache_ttl
        self.request_timeout = request_timeout
        self.port: int | None = None
        self._bridge_stats = bridge_stats
        self._ready = ready
        self._clock, self._wall_clock = clock, wall_clock
        self._drops = DropRateTracker(clock=clock)
        self._runner = CheckRunner(timeout=check_timeout)
        for name, fn in plugin_checks(plugin).items():
            self._runner.add(name, fn)
        self._runner.add("pipeline.worker", partial(check_worker, bridge_stats))
        self._runner.add("pipeline.queue", partial(check_queue, bridge_stats))
        self._runner.add("pipeline.drops", self._drops.check)
        self._latest: _Evaluation | None = None
        self._refresh_lock = threading.Lock()
        self._server: Any = None
        self._thread: threading.Thread | None = None
        self._mounts: dict[str, Callable] = {}  # replaced, never mutated: read per request
        self._closed = False
        self._snapshot_warned = False
        self._register_gauge(meter)

    # --- checks and the report -------------------------------------------------------------
    def add_check(self, name: str, fn: Check) -> None:
        """Add a user check: ``fn()`` returns a CheckResult, Status, bool, None (healthy),
        ``(status, detail)`` or ``{"status": ..., "detail": ...}``; raising is unhealthy.

        Names are unique and may not be a StatusBoard component's name.
        """
        if name in self.status.snapshot() or name == OVERALL:
            raise ValueError(f"{name!r} is a pipeline component name; choose another")
        self._runner.add(name, fn)

    def report(self, verbose: bool = False) -> dict:
        """The overall health as a JSON-ready dict (cached for ``cache_ttl`` seconds).

        ``{"status": "healthy|degraded|unhealthy", "timestamp": <unix s>, "checks":
        {name: {"status", "detail"?, "skipped"?}}}``; ``verbose`` adds each check's
        ``data`` and ``duration_ms`` — unless ``health_verbose`` is off, for a port reachable
        from where check details (endpoints, paths) should not be shown.
        """
        verbose = verbose and self.config.health_verbose
        ev = self._evaluate(self.cache_ttl)
        checks: dict[str, dict] = {}
        for name, (result, duration) in ev.results.items():
            entry = result.as_dict(verbose)
            if verbose:
                entry["duration_ms"] = round(duration * 1000, 3)
            checks[name] = entry
        return {"status": ev.status.label, "timestamp": ev.timestamp, "checks": checks}

    def _evaluate(self, max_age: float) -> _Evaluation:
        latest = self._latest
        if latest is not None and self._clock() - latest.at < max_age:
            return latest
        with self._refresh_lock:  # single flight: one refresh, the others reuse it
            latest = self._latest
            if latest is not None and self._clock() - latest.at < max_age:
                return latest
            results = self._runner.run()
            for name, state in self.status.snapshot().items():
                results.setdefault(name, (component_result(state), 0.0))
            worst = min((r.status for r, _ in results.values()), default=Status.HEALTHY)
            latest = _Evaluation(worst, results, self._wall_clock(), self._clock())
            self._latest = latest
            return latest

    # --- probes ------------------------------------------------------------------------------
    def liveness(self) -> tuple[bool, dict]:
        """Process and bridge worker alive; no dependency checks (``/livez``)."""
        alive = bool(self._safe_bridge_stats().get("worker_alive"))
        return alive, {"status": "alive" if alive else "dead", "checks": {"worker_alive": alive}}

    def readiness(self) -> tuple[bool, dict]:
        """Stack ready (providers set up, bus subscribed), worker alive, audit writable.

        With ``audit_required`` the audit trail must be fully healthy — writing, and no audit
        event lost in the lane before it — or the instance is not ready ("no audit, no
        service"); otherwise only an unhealthy store counts.
        """
        try:
            stack_ready = bool(self._ready())
        except Exception:
            stack_ready = False
        stats = self._safe_bridge_stats()
        audit = self.status.get(AUDIT_COMPONENT)
        # What the store reported last: a failed write (or open) degrades it until a write
        # succeeds, so this is never true while writes fail, whatever audit_required says.
        writable = audit is None or audit.status is Status.HEALTHY
        if self.config.audit_required:
            lane = self.status.get(AUDIT_LANE)
            lane_ok = lane is not None and lane.status is Status.HEALTHY
            audit_ok = audit is not None and writable and lane_ok
        else:
            audit_ok = audit is None or audit.status is not Status.UNHEALTHY
        checks = {
            "stack_ready": stack_ready,
            "worker_alive": bool(stats.get("worker_alive")),
            "subscribed": bool(stats.get("subscribed")),
            "audit_writable": writable and (audit_ok or not self.config.audit_required),
        }
        ok = audit_ok and all(v for k, v in checks.items() if k != "audit_writable")
        return ok, {"status": "ready" if ok else "not_ready", "checks": checks}

    def _safe_bridge_stats(self) -> Mapping:
        try:
            stats = self._bridge_stats()
            return stats if isinstance(stats, Mapping) else {}
        except Exception:
            logger.debug("bridge stats unavailable", exc_info=True)
            return {}

    # --- MetricsConsumer ----------------------------------------------------------------------
    def evaluate_now(self) -> bool:
        """Refresh every check with the pipeline counters read from the bridge, not from a
        metric snapshot (the same numbers, without a collection). False when the bridge's
        stats lack them: the runner then hands a snapshot to :meth:`consume`."""
        if self._closed:
            return True
        stats = self._safe_bridge_stats()
        dropped = stats.get("dropped")
        if "received" not in stats or not isinstance(dropped, Mapping):
            return False
        self._drops.observe_counts(
            float(stats["received"]),
            {r: float(dropped.get(r, 0)) for r in semconv.DROP_REASONS},
        )
        self._evaluate(0.0)
        return True

    def consume(self, metrics: MetricsData) -> None:
        """Take one snapshot's counters and refresh every check (on the consumer thread)."""
        if self._closed:
            return
        try:
            self._drops.observe(metrics)
        except Exception:
            # Once per monitor: the same malformed snapshot would recur every interval.
            log = logger.debug if self._snapshot_warned else logger.warning
            self._snapshot_warned = True
            log("health: could not read the metrics snapshot; drop rate unknown", exc_info=True)
        self._evaluate(0.0)

    # --- the aga.health.status gauge ---------------------------------------------------------
    def _register_gauge(self, meter: Any) -> None:
        if meter is None:
            return
        spec = semconv.metric("health_status")
        try:
            meter.create_observable_gauge(
                spec.name, callbacks=[self._observe], unit=spec.unit, description=spec.description
            )
        except Exception as exc:
            logger.warning("health: could not create the %s gauge: %s", spec.name, exc)

    def _observe(self, _options: CallbackOptions) -> Iterable[Observation]:
        # Reads the latest evaluation only: the reader's collection must never wait on a
        # plugin call. Before the first evaluation there is nothing to report.
        latest = self._latest
        if latest is None or self._closed:
            return []
        attr = semconv.ATTR_COMPONENT
        observations = [Observation(int(latest.status), {attr: OVERALL})]
        observations += [
            Observation(int(r.status), {attr: name}) for name, (r, _) in latest.results.items()
        ]
        return observations

    # --- the HTTP server and lifecycle --------------------------------------------------------
    def start_server(self) -> int | None:
        """Serve the probes on ``health_host:health_port``; the bound port, or None.

        A failure (port in use, bad certificate) is logged once, marks ``health.server``
        unhealthy on the StatusBoard and leaves everything else running.
        """
        if self._server is not None:
            return self.port
        cfg = self.config
        host, port = cfg.health_host, cfg.health_port
        try:
            ctx = None
            if cfg.server_tls_certfile:
                ctx = server_ssl_context(cfg.server_tls_certfile, cfg.server_tls_keyfile)
            app = make_health_app(self, cfg.health_path, lambda: self._mounts)
            self._server, self._thread = start_health_server(
                app, host, port, ssl_context=ctx, request_timeout=self.request_timeout
            )
        except Exception as exc:
            logger.error(
                "aga-otel health server could not start on %s:%s (%s); health "
                "endpoints are off, telemetry continues",
                host,
                port,
                exc,
            )
            self.status.failure(
                SERVER_COMPONENT, f"could not listen on {host}:{port}: {exc}", Status.UNHEALTHY
            )
            return None
        self.port = self._server.server_port
        scheme = "https" if ctx else "http"
        self.status.success(SERVER_COMPONENT, f"{scheme} on {host}:{self.port}")
        return self.port

    def mount(self, prefix: str, app: Callable) -> None:
        """Serve the WSGI ``app`` at ``prefix`` and below on the health server's port.

        ``app.close()``, if it exists, is called on ``shutdown()``, so long-lived responses
        such as the dashboard's event streams end with the server.
        """
        if not prefix.startswith("/") or prefix.endswith("/"):
            raise ValueError(f"mount prefix must start and not end with '/': {prefix!r}")
        self._mounts = {**self._mounts, prefix: app}

    def _close_mounts(self) -> None:
        mounts, self._mounts = self._mounts, {}
        for prefix, app in mounts.items():
            try:
                getattr(app, "close", lambda: None)()
            except Exception:
                logger.warning("health: closing the app at %s failed", prefix, exc_info=True)

    def close_inherited(self) -> None:
        """In a forked child: close the inherited listening socket, wait for no thread.

        The serving and check threads exist only in the parent; ``shutdown()`` would wait
        for them. The parent's server is untouched (closing a copy of the fd).
        """
        self._closed = True
        self._mounts = {}  # dropped, not closed: their threads and locks are the parent's
        server, self._server, self._thread = self._server, None, None
        if server is not None:
            server.server_close()

    def shutdown(self, timeout: float = 5.0) -> None:
        """Stop the server and the check workers; idempotent, bounded by ``timeout``."""
        self._closed = True
        self._close_mounts()
        server, thread = self._server, self._thread
        self._server = self._thread = None
        if server is not None:
            stop_server(server, timeout)
            if thread is not None:
                thread.join(max(0.0, timeout))
        self._runner.shutdown()
