"""aga-observability 1.0's ``AlertManager``, a face over aga-otel's alert engine.

The rules run in ``aga_otel.alerts.AlertManager``, off the emitting thread, never per
event: every ``alert_evaluation_interval`` (0.5 s by default), and on read —
``get_alerts()`` and ``get_stats()`` first wait until the events emitted before the call
have been handed over, then evaluate, so 1.0 code that emits and then reads sees what 1.0
showed. Callbacks (and the webhook) fire at the evaluation that sees the breach: within one
interval, or at a read if it comes sooner — 1.0 called them inside ``emit()``.

1.0 rules are evaluated with ``semantics="1.0"``: latency in µs, 1.0's latest-value metrics
read as the extreme of each interval, one alert per cooldown period while a breach lasts.
As in 1.0, a rule may name any metric (it is a comparison: ``evaluate()`` and
``format_message()`` work on any value); one that aga-otel does not record gets one warning
when the manager starts and never fires from the stream. Callbacks get 1.0 ``AlertEvent``
objects for firings; aga-otel's resolutions are not passed on (1.0 had none).

Usage::

    from aga_observability import AlertManager, AlertRule, AlertSeverity

    alerts = AlertManager()
    alerts.add_rule(AlertRule(name="hot", metric="entropy_mean", threshold=5.0,
                              severity=AlertSeverity.CRITICAL))
    alerts.add_callback(lambda event: print(event.rule_name, event.value))
    alerts.subscribe(plugin.event_bus)
"""

from __future__ import annotations

import dataclasses
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, ClassVar

from aga_observability._face import Face, logger
from aga_observability.config import AlertRuleConfig
from aga_otel.alerts.rules import default_rules

__all__ = ["AlertEvent", "AlertManager", "AlertRule", "AlertSeverity"]

_DEFAULT_MESSAGE = "{name}: {metric}={value} (threshold {threshold})"


class AlertSeverity(str, Enum):
    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"


@dataclass
class AlertRule:
    """One 1.0 alert rule (latency thresholds in µs); any metric name, as in 1.0."""

    name: str
    metric: str
    operator: str = ">"
    threshold: float = 0.0
    window_seconds: float = 60
    severity: AlertSeverity = AlertSeverity.WARNING
    message: str = ""
    cooldown_seconds: float = 300

    def __post_init__(self) -> None:
        self.severity = AlertSeverity(self.severity)
        self.to_config()  # a bad operator or threshold fails here, not silently later

    def evaluate(self, value: float) -> bool:
        from aga_otel.alerts.lifecycle import COMPARE

        return COMPARE[self.operator](value, self.threshold)

    def format_message(self, value: float) -> str:
        from aga_otel.alerts.lifecycle import format_message

        return format_message(self.to_config(), value, self.threshold)

    def to_config(self) -> AlertRuleConfig:
        return AlertRuleConfig(
            name=self.name, metric=self.metric, operator=self.operator,
            threshold=self.threshold, window_seconds=self.window_seconds,
            severity=self.severity.value, message=self.message or _DEFAULT_MESSAGE,
            cooldown_seconds=self.cooldown_seconds, semantics="1.0",
        )  # fmt: skip

    @classmethod
    def from_config(cls, rule: Any) -> AlertRule:
        return cls(
            rule.name, rule.metric, rule.operator, rule.threshold, rule.window_seconds,
            AlertSeverity(rule.severity), rule.message, rule.cooldown_seconds,
        )  # fmt: skip


@dataclass
class AlertEvent:
    rule_name: str
    metric: str
    value: float
    threshold: float
    severity: AlertSeverity
    message: str
    timestamp: float = field(default_factory=time.time)
    resolved: bool = False

    def as_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["severity"] = self.severity.value
        d.pop("resolved")
        return d


class AlertManager(Face):
    """1.0's alert manager; see the module docstring."""

    #: 1.0's four default rules, used when ``use_defaults`` is true.
    DEFAULT_RULES: ClassVar[list[AlertRule]] = [
        AlertRule.from_config(r) for r in default_rules("1.0")
    ]

    def __init__(
        self,
        rules: list[AlertRule] | None = None,
        use_defaults: bool = True,
        max_history: int = 1000,
        webhook_url: str | None = None,
    ) -> None:
        super().__init__()
        self._rules: dict[str, AlertRule] = {}
        if use_defaults:
            for r in self.DEFAULT_RULES:
                self._rules[r.name] = dataclasses.replace(r)  # a subclass may change them
        for r in rules or ():
            self._rules[r.name] = r
        self._history: deque[AlertEvent] = deque(maxlen=max_history)
        self._callbacks: list[Callable[[AlertEvent], Any]] = []
        self._webhook_url = webhook_url
        self._plugin: Any = None
        self._engine: Any = None

    @classmethod
    def _for_stack(cls, rules: list[Any]) -> AlertManager:
        """The face of a 1.0 stack: the rules its config gives the engine."""
        return cls([AlertRule.from_config(r) for r in rules], use_defaults=False)

    # --- rules and callbacks ---------------------------------------------------------------
    def add_rule(self, rule: AlertRule) -> None:
        self._rules[rule.name] = rule
        if self._engine is not None:
            self._engine.add_rule(rule.to_config())

    def remove_rule(self, name: str) -> bool:
        found = self._rules.pop(name, None) is not None
        if self._engine is not None:
            self._engine.remove_rule(name)
        return found

    def add_callback(self, fn: Callable[[AlertEvent], Any]) -> None:
        self._callbacks.append(fn)

    def update_plugin_metrics(self, plugin: Any) -> None:
        """Read knowledge utilization and slot change rate from ``plugin`` from now on."""
        self._plugin = plugin
        if self._stack is not None:
            self._stack.bind_plugin(plugin)

    # --- queries ---------------------------------------------------------------------------
    def get_alerts(
        self,
        severity: AlertSeverity | str | None = None,
        limit: int = 100,
        since: float | None = None,
    ) -> list[dict[str, Any]]:
        """Fired alerts as dicts, oldest first, the last ``limit`` (evaluated first)."""
        self._evaluate_now()
        wanted = None if severity is None else AlertSeverity(severity)
        items = [
            e.as_dict()
            for e in list(self._history)
            if (wanted is None or e.severity is wanted) and (since is None or e.timestamp >= since)
        ]
        return items[-limit:] if limit > 0 else []

    def get_stats(self) -> dict[str, Any]:
        """1.0's counts (evaluated first, like ``get_alerts``)."""
        self._evaluate_now()
        by_severity = {s.value: 0 for s in AlertSeverity}
        for e in list(self._history):
            by_severity[e.severity.value] += 1
        states = self._engine.current_values() if self._engine is not None else {}
        return {
            "rules_count": len(self._rules),
            "total_alerts": len(self._history),
            "by_severity": by_severity,
            "active_metrics": sorted({m for m, v in states.items() if v is not None}),
            "callbacks_count": len(self._callbacks),
        }

    def _evaluate_now(self) -> None:
        """Bring the engine up to date with every event emitted before the call."""
        bridge = self._stack.bridge if self._stack is not None else None
        if self._engine is None or bridge is None or not bridge.worker_alive:
            return  # not started, or shut down: nothing new to evaluate
        self._catch_up()
        self._engine.evaluate_now()

    # --- binding ---------------------------------------------------------------------------
    def _standalone_config(self) -> dict[str, Any]:
        return {"alert_enabled": True, "alert_webhook_url": self._webhook_url}

    def _on_attach(self, stack: Any) -> None:
        engine = stack.alert_manager
        if engine is None:
            logger.error("aga_observability: alert engine unavailable; alerts are off")
            return
        wanted = {name: r.to_config() for name, r in self._rules.items()}
        for rule in engine.rules:  # rules removed (or retuned) before start()
            if wanted.get(rule.name) != rule:
                engine.remove_rule(rule.name)
        present = {r.name for r in engine.rules}
        for name, rule in wanted.items():
            if name not in present:
                engine.add_rule(rule)
        engine.add_callback(self._deliver)
        self._engine = engine
        if self._plugin is not None:
            stack.bind_plugin(self._plugin)

    def _deliver(self, alert: Any) -> None:
        """aga-otel alert → 1.0 AlertEvent for the history and the 1.0 callbacks."""
        if alert.state.value != "firing":
            return  # 1.0 had no resolution notices
        event = AlertEvent(
            alert.rule_name, alert.metric, alert.value, alert.threshold,
            AlertSeverity(alert.severity), alert.message, alert.timestamp,
        )  # fmt: skip
        self._history.append(event)
        for fn in list(self._callbacks):
            try:
                fn(event)
            except Exception as exc:  # 1.0: a raising callback is ignored
                logger.debug("alert callback %r failed: %s", fn, exc)
