"""One rule's lifecycle: inactive → pending → firing → resolved, with cooldown.

- A breach makes the rule ``pending``; it turns ``firing`` once the breach has lasted
  ``for_seconds`` (at once when 0), as PromQL's ``for:`` does.
- A firing rule whose metric is back within bounds, or has stopped reporting, is
  ``resolved``.
- Cooldown against flapping: a rule does not fire again until ``cooldown_seconds`` have
  passed since it last resolved; a breach during the cooldown keeps it ``pending``.
- Rules with ``semantics="1.0"`` count the cooldown as aga-observability 1.0 did, from
  the last firing: a breach fires unless the rule fired less than ``cooldown_seconds``
  ago, so a breach that persists fires again after each cooldown (a repeated ``firing``).
"""

from __future__ import annotations

import math
import operator as _op
from collections.abc import Callable

from aga_otel.alerts.adaptive import RobustBaseline
from aga_otel.alerts.model import Alert, AlertState
from aga_otel.config import AlertRuleConfig

# Adaptive rules judge at most once per ADAPTIVE_EVERY seconds, whatever the evaluation
# interval: their baseline and false-alarm figures (docs/alerting.md) are for 5 s steps.
ADAPTIVE_EVERY = 5.0
EQUAL_TOLERANCE = 1e-9  # aga-observability 1.0's tolerance for ``==``

COMPARE: dict[str, Callable[[float, float], bool]] = {
    ">": _op.gt,
    "<": _op.lt,
    ">=": _op.ge,
    "<=": _op.le,
    "==": lambda a, b: abs(a - b) <= EQUAL_TOLERANCE,
}


class RuleEvaluator:
    """Evaluates one rule, one value at a time; returns an ``Alert`` on firing/resolution."""

    def __init__(self, rule: AlertRuleConfig) -> None:
        self.rule = rule
        self.state = AlertState.INACTIVE
        self.value: float | None = None
        self.threshold = rule.threshold
        self._pending_since: float | None = None
        self._started_at = 0.0
        self._resolved_at: float | None = None
        self._fired_at: float | None = None
        self._repeats = rule.semantics == "1.0"
        self._judged_at: float | None = None
        self.baseline = (
            RobustBaseline(rule.learning_seconds, rule.sensitivity, rule.threshold)
            if rule.kind == "adaptive"
            else None
        )

    def step(self, value: float | None, now: float) -> Alert | None:
        """Advance with the value of this evaluation (``None``: no data)."""
        if self.baseline is not None:
            if self._judged_at is not None and now - self._judged_at < ADAPTIVE_EVERY:
                return None
            self._judged_at = now
        self.value = value
        breach = self._breach(value, now)
        if not breach:
            self._pending_since = None
            if self.state is AlertState.FIRING:
                self.state = AlertState.RESOLVED
                self._resolved_at = now
                return self._alert(now)
            if self.state is AlertState.PENDING:
                self.state = AlertState.INACTIVE
            return None
        if self.state is AlertState.FIRING:
            if self._repeats and now - self._fired_at >= self.rule.cooldown_seconds:
                self._fired_at = now
                return self._alert(now)
            return None
        if self._pending_since is None:
            self._pending_since = now
        self.state = AlertState.PENDING
        waited = now - self._pending_since >= self.rule.for_seconds
        since = self._fired_at if self._repeats else self._resolved_at
        cooled = since is None or now - since >= self.rule.cooldown_seconds
        if waited and cooled:
            self.state = AlertState.FIRING
            self._started_at = self._fired_at = now
            return self._alert(now)
        return None

    def current(self, now: float) -> Alert:
        """The rule's present state as an alert record (for ``firing()`` and health)."""
        return self._alert(now)

    def _breach(self, value: float | None, now: float) -> bool:
        if value is None:
            return False
        if self.baseline is None:
            return COMPARE[self.rule.operator](value, self.rule.threshold)
        if not self.baseline.ready(now):
            self.baseline.learn(now, value)
            return False
        breach, self.threshold = self.baseline.check(value, self.rule.operator)
        if not breach and self.state in (AlertState.INACTIVE, AlertState.RESOLVED):
            self.baseline.learn(now, value)
        return breach

    def _alert(self, now: float) -> Alert:
        r = self.rule
        return Alert(
            rule_name=r.name,
            metric=r.metric,
            value=self.value,
            threshold=self.threshold,
            operator=r.operator,
            severity=r.severity,
            message=format_message(r, self.value, self.threshold),
            state=self.state,
            timestamp=now,
            started_at=self._started_at,
            kind=r.kind,
        )


def format_message(rule: AlertRuleConfig, value: float | None, threshold: float) -> str:
    """The rule's message with ``{value} {threshold} {metric} {name}``; never raises.

    A bare ``{value}`` is rounded to the threshold's precision (its decimals plus two:
    threshold 3.5 shows 2.089, 0.001 shows 0.00123) and a missing value reads ``n/a``,
    never ``nan``; an explicit format spec (``{value:.1f}``) is honoured as written.
    """
    places = _decimals(threshold) + 2
    try:
        return rule.message.format(
            value=_Shown(value, places),
            threshold=_Shown(threshold, places - 2),
            metric=rule.metric,
            name=rule.name,
        )
    except Exception:  # a format spec that does not suit the value: keep the raw text
        return rule.message


def _decimals(x: float) -> int:
    """Decimals of ``x`` as a person wrote it (``repr`` is the shortest round trip)."""
    if not math.isfinite(x):
        return 0
    text = repr(float(x))
    if "e" in text:
        mantissa, exp = text.split("e")
        frac = mantissa.split(".")[1] if "." in mantissa else ""
        return max(0, len(frac.rstrip("0")) - int(exp))
    frac = text.split(".")[1].rstrip("0")
    return min(len(frac), 12)


class _Shown:
    """A number for a message: rounded to ``places`` unless the template says otherwise."""

    def __init__(self, value: float | None, places: int) -> None:
        self.value, self.places = value, places

    def __format__(self, spec: str) -> str:
        v = self.value
        if v is None or (isinstance(v, float) and math.isnan(v)):
            return "n/a"
        if spec:
            return format(v, spec)
        text = f"{v:.{self.places}f}"
        return text.rstrip("0").rstrip(".") if "." in text else text

    __str__ = __repr__ = lambda self: format(self, "")  # noqa: E731
