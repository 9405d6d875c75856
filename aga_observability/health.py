"""aga-observability 1.0's ``HealthChecker``, a face over aga-otel's health checks.

The plugin checks are aga-otel's (``aga_otel.health.plugin_checks``) reported under 1.0's
component names; user checks go through aga-otel's check runner (a raising or hanging
check is unhealthy, never a crash). ``check()`` returns 1.0's shape
``{status, components: {name: {status, ...}}, timestamp}``; as in 1.0, the plugin's
components appear once a plugin is bound (before, only the checks added with
``add_check``). In a 1.0 stack the components also include aga-otel's pipeline checks, and
the stack's health server (aga-otel's) serves ``/livez``, ``/readyz`` and ``health_path``.
"""

from __future__ import annotations

import time
from enum import Enum
from typing import Any

from aga_observability._face import Face

__all__ = ["HealthChecker", "HealthStatus"]

# aga-otel check name -> 1.0 component name
COMPONENT_NAMES = {
    "plugin.knowledge_store": "kv_store",
    "plugin.gate": "gate_system",
    "plugin.retriever": "retriever",
    "plugin.event_bus": "event_bus",
    "plugin.attachment": "attachment",
}


class HealthStatus(str, Enum):
    HEALTHY = "healthy"
    DEGRADED = "degraded"
    UNHEALTHY = "unhealthy"


class HealthChecker(Face):
    def __init__(self) -> None:
        super().__init__()
        self._plugin: Any = None
        self._pending: dict[str, Any] = {}  # checks added before a stack was attached
        self._runner: Any = None  # standalone: aga-otel's CheckRunner
        self._monitor: Any = None  # in a stack: aga-otel's HealthMonitor
        self._server: Any = None
        self.port: int | None = None

    def bind_plugin(self, plugin: Any) -> None:
        first = self._plugin is None
        self._plugin = plugin
        if self._stack is not None:
            self._stack.bind_plugin(plugin)
        if first and self._runner is not None:
            self._add_plugin_checks(self._runner)

    def add_check(self, name: str, fn: Any) -> None:
        """``fn()`` returns a dict with a ``status`` string; raising counts as unhealthy."""
        if self._monitor is not None:
            self._monitor.add_check(name, fn)
        elif self._runner is not None:
            self._runner.add(name, fn)
        else:
            self._pending[name] = fn

    def check(self) -> dict[str, Any]:
        if self._monitor is not None:
            report = self._monitor.report()
            checks, status = report["checks"], report["status"]
            if self._stack.plugin is None:  # 1.0 reported no plugin components then
                checks = {n: c for n, c in checks.items() if n not in COMPONENT_NAMES}
        else:
            results = self._standalone_runner().run()
            checks = {n: r.as_dict() for n, (r, _) in results.items()}
            status = min((r.status for r, _ in results.values()), default=None)
            status = "healthy" if status is None else status.label
        components = {COMPONENT_NAMES.get(n, n): c for n, c in checks.items()}
        return {"status": status, "components": components, "timestamp": time.time()}

    def start_server(self, port: int = 8080, path: str = "/health") -> int | None:
        """Serve ``check()`` as JSON on ``path`` (200, or 503 when unhealthy); the port."""
        if self._monitor is not None:  # a 1.0 stack's health server is already serving
            return self._monitor.port
        if self._server is None:
            from aga_otel.health import make_health_app, start_health_server

            app = make_health_app(_Source(self), path)
            self._server, _thread = start_health_server(app, "0.0.0.0", port)
            self.port = self._server.server_port
        return self.port

    def shutdown(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._runner is not None:
            self._runner.shutdown()
        super().shutdown()

    # --- binding ---------------------------------------------------------------------------
    def _standalone_runner(self) -> Any:
        if self._runner is None:
            from aga_otel.health.runner import CheckRunner

            self._runner = CheckRunner()
            if self._plugin is not None:
                self._add_plugin_checks(self._runner)
            for name, fn in self._pending.items():
                self._runner.add(name, fn)
        return self._runner

    def _add_plugin_checks(self, runner: Any) -> None:
        from aga_otel.health.plugin_checks import plugin_checks

        for name, fn in plugin_checks(lambda: self._plugin).items():
            runner.add(name, fn)

    def _on_attach(self, stack: Any) -> None:
        self._monitor = stack.health
        if self._monitor is not None:
            for name, fn in self._pending.items():
                self._monitor.add_check(name, fn)
        if self._plugin is not None:
            stack.bind_plugin(self._plugin)


class _Source:
    """What aga-otel's health app asks, answered by a standalone HealthChecker."""

    def __init__(self, checker: HealthChecker) -> None:
        self._checker = checker

    def report(self, verbose: bool = False) -> dict[str, Any]:
        return self._checker.check()

    def liveness(self) -> tuple[bool, dict]:
        return True, {"status": "alive"}

    def readiness(self) -> tuple[bool, dict]:
        return True, {"status": "ready"}
