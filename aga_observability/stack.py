"""aga-observability 1.0's ``ObservabilityStack``: 1.0's surface over aga-otel's stack.

Components exist right after construction, as in 1.0, so "configure, then start" works::

    stack = ObservabilityStack(event_bus=plugin.event_bus, config=ObservabilityConfig())
    stack.alert_manager.add_callback(notify)   # before start(): kept and replayed
    stack.start()                              # ports bound, threads started here
    stack.bind_plugin(plugin)

Nothing binds a port or starts a thread before ``start()``. The work is done by one
``aga_otel.stack.ObservabilityStack``; each attribute is a thin face bound to its
component once ``start()`` has built it. aga-otel's extras (``force_flush``, ``config``,
``bridge``, ``describe_endpoints`` ...) are reachable on this object too.
"""

from __future__ import annotations

import logging
import os
from typing import Any

from aga_observability.alert_manager import AlertManager
from aga_observability.audit_storage import FileAuditStorage, SQLiteAuditStorage
from aga_observability.config import ObservabilityConfig
from aga_observability.grafana_dashboard import GrafanaDashboardGenerator
from aga_observability.health import HealthChecker
from aga_observability.log_exporter import LogExporter
from aga_observability.prometheus_exporter import PrometheusExporter

__all__ = ["ObservabilityStack"]

logger = logging.getLogger("aga_observability")


class ObservabilityStack:
    def __init__(self, event_bus: Any, config: Any = None, **kwargs: Any) -> None:
        from aga_otel.alerts.rules import effective_rules
        from aga_otel.stack import ObservabilityStack as _Stack

        config = config if config is not None else ObservabilityConfig()
        self._stack = _Stack(event_bus, config, **kwargs)  # validates; builds nothing yet
        self._build_faces(effective_rules(self._stack.config))

    @classmethod
    def _wrap(cls, stack: Any) -> ObservabilityStack:
        """The 1.0 face of an aga-otel stack that is already running (the global one)."""
        face = cls.__new__(cls)
        face._stack = stack
        face._build_faces(stack.alert_manager.rules if stack.alert_manager is not None else [])
        face._attach_faces()
        return face

    def _build_faces(self, rules: list[Any]) -> None:
        """One face per enabled component, as 1.0 built them in ``__init__``."""
        cfg = self._stack.config
        self._faces_attached = False
        self.prometheus = (
            PrometheusExporter(cfg.prometheus_prefix, cfg.prometheus_port, cfg.prometheus_labels)
            if cfg.prometheus_enabled
            else None
        )
        self.log_exporter = (
            LogExporter(
                cfg.log_format, cfg.log_level, cfg.log_file, cfg.log_max_bytes, cfg.log_backup_count
            )  # fmt: skip
            if cfg.log_enabled
            else None
        )
        store = {"file": FileAuditStorage, "sqlite": SQLiteAuditStorage}.get(
            cfg.audit_storage_backend
        )
        self.audit_storage = (
            store(cfg.audit_storage_path, cfg.audit_flush_interval, cfg.audit_batch_size)
            if store
            else None
        )
        self.alert_manager = AlertManager._for_stack(rules) if cfg.alert_enabled else None
        self.health = HealthChecker() if cfg.health_enabled else None
        self.dashboard_generator = GrafanaDashboardGenerator(prefix=cfg.prometheus_prefix)

    def _attach_faces(self) -> None:
        if self._faces_attached or self._stack.bridge is None:
            return  # not started, or disabled by configuration
        self._faces_attached = True
        faces = (self.prometheus, self.log_exporter, self.audit_storage, self.alert_manager,
                 self.health)  # fmt: skip
        for face in faces:
            if face is not None:
                face._attach(self._stack)

    # --- 1.0 lifecycle ---------------------------------------------------------------------
    def start(self) -> ObservabilityStack:
        if self._faces_attached:
            logger.warning("aga_observability: ObservabilityStack.start() called twice")
            return self
        self._stack.start()
        self._attach_faces()
        return self

    def bind_plugin(self, plugin: Any) -> None:
        self._stack.bind_plugin(plugin)

    def shutdown(self, timeout: float | None = None) -> None:
        self._stack.shutdown(timeout)

    def generate_dashboard(self, path: str | os.PathLike | None = None) -> str:
        """The dashboard JSON text in Grafana's import wrapper; also written to ``path``."""
        text = self.dashboard_generator.generate()
        if path is not None:
            self.dashboard_generator.save(path)
        return text

    def get_stats(self) -> dict[str, Any]:
        """aga-otel's stack stats plus 1.0's per-component sub-dicts."""
        stats = self._stack.get_stats()
        for name in ("prometheus", "log_exporter", "audit_storage", "alert_manager"):
            face = getattr(self, name)
            try:
                stats[name] = None if face is None else face.get_stats()
            except Exception as exc:  # stats must never raise
                stats[name] = {"error": repr(exc)}
        return stats

    def __getattr__(self, name: str) -> Any:
        # aga-otel's extras (force_flush, config, bridge, describe_endpoints, ...).
        if name.startswith("__") or name == "_stack":
            raise AttributeError(name)
        return getattr(self._stack, name)
