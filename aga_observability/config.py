"""aga-observability 1.0's configuration classes, with 1.0's defaults.

``ObservabilityConfig`` is aga-otel's configuration (every field, the same validation and
sources) with the values 1.0 had where aga-otel's own defaults differ:

- ``prometheus_port`` 9090 (aga-core's ``AGAConfig`` default; aga-otel's own is 9464);
- alert rules evaluated with 1.0 semantics (``AlertRuleConfig.semantics="1.0"``): 1.0's
  latest-value metrics are read as the extreme of each evaluation interval, and a breach
  that persists fires again every ``cooldown_seconds``;
- JSON log files (``log_file``) written in 1.0's line shape (``event_type``, ``data`` ...).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from aga_otel.config import AlertRuleConfig as _AlertRuleConfig
from aga_otel.config import ConfigError, track_explicit_fields
from aga_otel.config import ObservabilityConfig as _ObservabilityConfig

__all__ = ["AlertRuleConfig", "ConfigError", "ObservabilityConfig"]


@dataclass
class AlertRuleConfig(_AlertRuleConfig):
    """1.0's rule fields; evaluated as 1.0 did (``semantics="1.0"``), latency in µs."""

    semantics: str = "1.0"


@dataclass
class ObservabilityConfig(_ObservabilityConfig):
    """aga-otel's configuration with aga-observability 1.0's defaults (see module doc)."""

    rule_semantics: ClassVar[str] = "1.0"  # for the default rules (alerts.rules)
    prometheus_port: int = 9090

    def __post_init__(self) -> None:
        self.alert_rules = [
            AlertRuleConfig.from_dict(r) if isinstance(r, Mapping) else r
            for r in (self.alert_rules or [])
        ]
        super().__post_init__()

    @property
    def log_line_formatter(self) -> Callable[[Any], str] | None:
        """1.0's JSON line shape for ``log_file`` (read by aga-otel's log pipeline)."""
        if self.log_format != "json":
            return None
        from aga_observability.log_exporter import format_line  # the SDK only when used

        return format_line


track_explicit_fields(ObservabilityConfig)
