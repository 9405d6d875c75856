"""aga-observability 1.0's configuration classes, with 1.0's defaults.

``ObservabilityConfig`` is aga-otel's configuration (every field, the same validation and
sources) with the values 1.0 had where aga-otel's own defaults differ:

- ``prometheus_port`` 9090 (aga-core's ``AGAConfig`` default; aga-otel's own is 9464);
- alert rules evaluated with 1.0 semantics (``AlertRuleConfig.semantics="1.0"``): 1.0's
  latest-value metrics are read as the extreme of each evaluation interval, and a breach
  that persists fires again every ``cooldown_seconds``;
- JSON log files (``log_file``) written in 1.0's line shape (``event_type``, ``data`` ...).

And 1.0's leniency, on this path only (``aga_otel``'s own classes stay strict, so a typo
there is a start-up error): ``AlertRuleConfig()`` builds with every field defaulted, a rule
may name any metric (one aga-otel does not record never fires; the alert engine warns once),
and ``ObservabilityConfig.from_dict`` ignores keys that are no field, with one warning
naming them. Values are validated as aga-otel validates them.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from aga_otel.config import ALERT_METRICS, ConfigError, track_explicit_fields
from aga_otel.config import AlertRuleConfig as _AlertRuleConfig
from aga_otel.config import ObservabilityConfig as _ObservabilityConfig

__all__ = ["AlertRuleConfig", "ConfigError", "ObservabilityConfig"]

logger = logging.getLogger("aga_observability")


@dataclass
class AlertRuleConfig(_AlertRuleConfig):
    """1.0's rule fields; evaluated as 1.0 did (``semantics="1.0"``), latency in µs.

    Every field has a default and ``metric`` may be any name, as in 1.0.
    """

    name: str = ""
    metric: str = ""
    semantics: str = "1.0"

    def __post_init__(self) -> None:
        for name in ("name", "metric"):
            value = getattr(self, name)
            if not isinstance(value, str):
                raise ConfigError(f"alert_rules.{name}", value, "a string")
        # The other fields are checked by aga-otel's own rule, built with a name and, for a
        # metric it does not record, a known one (no metric-specific check applies then).
        fields = {f.name: getattr(self, f.name) for f in dataclasses.fields(_AlertRuleConfig)}
        fields["name"] = self.name or "<unnamed>"
        if self.metric not in ALERT_METRICS:
            fields["metric"] = "activation_rate"
        _AlertRuleConfig(**fields)


@dataclass
class ObservabilityConfig(_ObservabilityConfig):
    """aga-otel's configuration with aga-observability 1.0's defaults (see module doc)."""

    rule_semantics: ClassVar[str] = "1.0"  # for the default rules (alerts.rules)
    prometheus_port: int = 9090

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> ObservabilityConfig:
        """Build from a mapping; keys that are no field are ignored (as 1.0 did), with one
        warning naming them (their values may be secrets: never shown)."""
        if isinstance(d, Mapping):
            names = cls.field_names()
            unknown = sorted(str(k) for k in d if k not in names)
            if unknown:
                logger.warning(
                    "aga_observability: ObservabilityConfig.from_dict ignored %d unknown "
                    "key(s): %s", len(unknown), ", ".join(unknown),
                )  # fmt: skip
                d = {k: v for k, v in d.items() if k in names}
        return super().from_dict(d)

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
