"""The alert record and its lifecycle states, shared by the engine and every channel."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from enum import Enum


class AlertState(str, Enum):
    """Where a rule stands. ``pending`` waits out ``for_seconds`` (or a cooldown)."""

    INACTIVE = "inactive"
    PENDING = "pending"
    FIRING = "firing"
    RESOLVED = "resolved"


@dataclass(frozen=True)
class Alert:
    """One state change of one rule, as handed to callbacks, logs and webhooks.

    ``value`` is the metric value that caused the change (for a resolution: the first
    value back within bounds, or ``None`` when the metric stopped reporting). For an
    adaptive rule ``threshold`` is the learned bound that was crossed. ``started_at`` is
    when the rule started firing; ``timestamp`` is when this change happened.
    """

    rule_name: str
    metric: str
    value: float | None
    threshold: float
    operator: str
    severity: str
    message: str
    state: AlertState
    timestamp: float
    started_at: float
    kind: str = "threshold"

    @property
    def fingerprint(self) -> str:
        """Stable identity of one firing episode (for de-duplicating retried deliveries)."""
        return f"{self.rule_name}@{self.started_at:.3f}"

    def as_dict(self) -> dict:
        d = asdict(self)
        d["state"] = self.state.value
        d["fingerprint"] = self.fingerprint
        return d
