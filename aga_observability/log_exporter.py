"""aga-observability 1.0's ``LogExporter``, a face over aga-otel's log pipeline.

Each event becomes one OpenTelemetry log record on aga-otel's worker (forward at DEBUG,
others at INFO); with ``format="json"`` the local lines keep 1.0's shape (``format_line``):
``timestamp`` (local ISO seconds), ``level``, ``logger``, ``message``, ``event_type``,
``event_source``, ``event_timestamp``, ``data``. Used alone it writes to stderr and, when
given, to the rotating ``file``, as 1.0 did.
"""

from __future__ import annotations

import json
from datetime import datetime
from functools import partial
from typing import Any

from aga_observability._face import Face

__all__ = ["LogExporter", "format_line"]

LOGGER_NAME = "aga.observability"
_LEVELS = {"WARN": "WARNING", "FATAL": "CRITICAL"}
# aga-otel record attribute -> 1.0 ``data`` key
_DATA_KEYS = {
    "aga.layer_idx": "layer_idx", "aga.applied": "aga_applied", "aga.gate_mean": "gate_mean",
    "aga.entropy_mean": "entropy_mean", "aga.latency_us": "latency_us",
    "aga.retrieval.results_count": "results_count",
    "aga.retrieval.injected_count": "injected_count",
    "aga.retrieval.budget_remaining": "budget_remaining", "aga.retrieval.ids": "ids",
    "aga.retrieval.scores": "scores", "aga.audit.operation": "operation",
    "aga.audit.success": "success", "aga.audit.error": "error", "aga.audit.details": "details",
}  # fmt: skip


def format_line(readable: Any, logger: str = LOGGER_NAME) -> str:
    """One aga-otel log record as 1.0's JSON line (``logger``: the line's logger name)."""
    r = readable.log_record
    attrs = dict(r.attributes or {})
    data: dict[str, Any] = {}
    for key, name in _DATA_KEYS.items():
        if key in attrs:
            value = attrs[key]
            data[name] = json.loads(value) if name == "details" else value
            if isinstance(data[name], tuple):
                data[name] = list(data[name])
    event_ts = (r.timestamp or r.observed_timestamp or 0) / 1e9
    line = {
        "timestamp": datetime.now().isoformat(timespec="seconds"),
        "level": _LEVELS.get(r.severity_text, r.severity_text),
        "logger": logger,
        "message": r.body,
        "event_type": attrs.get("aga.event.type"),
        "event_source": attrs.get("aga.event.source"),
        "event_timestamp": event_ts,
        "data": data,
    }
    return json.dumps(line, ensure_ascii=False, default=str)


class LogExporter(Face):
    def __init__(
        self,
        format: str = "json",  # noqa: A002 - 1.0's argument name
        level: str = "INFO",
        file: str | None = None,
        max_bytes: int = 100 * 1024 * 1024,
        backup_count: int = 5,
        logger_name: str = LOGGER_NAME,
    ) -> None:
        super().__init__()
        self.format, self.level, self.file = format, level, file
        self.max_bytes, self.backup_count = max_bytes, backup_count
        self.logger_name = logger_name
        self._pipeline: Any = None

    def _standalone_config(self) -> dict[str, Any]:
        return {
            "log_enabled": True, "log_format": self.format, "log_level": self.level,
            "log_file": self.file, "log_max_bytes": self.max_bytes,
            "log_backup_count": self.backup_count, "log_stderr": True,
        }  # fmt: skip

    def _on_attach(self, stack: Any) -> None:
        self._pipeline = p = stack.log_exporter
        if self._own and self.format == "json" and p is not None and p.local is not None:
            p.local.format = partial(format_line, logger=self.logger_name)

    def flush(self, timeout: float = 5.0) -> bool:
        """Write what is queued now (aga-otel batches lines for up to a second)."""
        if self._stack is None or self._pipeline is None:
            return True
        self._stack.force_flush(timeout)
        return self._pipeline.flush(timeout)

    def get_stats(self) -> dict[str, Any]:
        p = self._pipeline
        handlers = []
        if p is not None and p.local is not None:
            if p.local.stream is not None:
                handlers.append("stderr")
            if p.local.file is not None:
                handlers.append(str(p.local.file.path))
        return {
            "subscribed": self.subscribed,
            "format": self.format,
            "event_count": 0 if p is None else p.emitted + p.filtered,
            "handlers": handlers,
        }
