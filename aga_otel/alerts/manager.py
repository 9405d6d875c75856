"""``AlertManager``: the alert engine, a consumer of the shared metric reader's snapshots.

Every ``interval`` seconds the shared reader hands over a cumulative snapshot; the
manager keeps the few totals its rules need, evaluates each rule on its window, and hands
state changes (firing, resolved) to its channels: the ``aga_otel.alerts`` logger, the
registered callbacks, and the webhook sender. Nothing here runs per event.

An evaluation may also be asked for between two intervals (:meth:`AlertManager.evaluate_now`,
which aga_observability's ``get_alerts()`` calls so 1.0 code that emits and then reads sees
its alert); evaluations never overlap, and the callbacks then run on the asking thread.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from typing import Any

from opentelemetry.metrics import CallbackOptions, Meter, Observation
from opentelemetry.sdk.metrics.export import MetricsData

from aga_otel import semconv
from aga_otel.alerts.lifecycle import RuleEvaluator
from aga_otel.alerts.model import Alert, AlertState
from aga_otel.alerts.signals import SIGNALS, evaluate, source_keys
from aga_otel.alerts.snapshot import Snapshot, SnapshotHistory, snapshot_from
from aga_otel.alerts.webhook import WebhookChannel
from aga_otel.config import AlertRuleConfig
from aga_otel.status import StatusBoard

log = logging.getLogger("aga_otel.alerts")

COMPONENT = "alerts"
AlertCallback = Callable[[Alert], Any]


class AlertManager:
    """Evaluates alert rules on metric snapshots and notifies log, callbacks and webhook.

    Callbacks run on the evaluation thread, one after another: keep them short (a slow
    one delays later rules, never the event bus). An exception in one is logged and
    counted, never propagated.
    """

    name = COMPONENT

    def __init__(
        self,
        rules: Iterable[AlertRuleConfig],
        status: StatusBoard,
        *,
        interval: float = 5.0,
        meter: Meter | None = None,
        log_level: str = "WARNING",
        webhook: WebhookChannel | None = None,
        clock: Callable[[], float] = time.time,
        history_size: int = 1000,
    ) -> None:
        self.interval = interval
        self._rules = list(rules)
        self._status = status
        self._log_level = logging.getLevelName(log_level.upper())
        self._webhook = webhook
        self._clock = clock
        self._evaluators = [RuleEvaluator(r) for r in self._rules]
        horizon = max([r.window_seconds for r in self._rules], default=60.0)
        self._snapshots = SnapshotHistory(
            horizon + 2 * interval, start=clock(), min_spacing=interval / 2
        )
        self._keys = source_keys()
        self._lock = threading.Lock()
        # One evaluation at a time (the reader's thread, or a reader asking on its own).
        self._evaluation = threading.RLock()
        self._evaluating = False
        self._callbacks: list[AlertCallback] = []
        self._history: deque[Alert] = deque(maxlen=history_size)
        self._firing: dict[str, Alert] = {}
        self._counts = {"evaluations": 0, "evaluation_errors": 0, "callback_errors": 0}
        self._last_evaluation: float | None = None
        self._broken: set[str] = set()
        self._inputs: Callable[[float], Snapshot] | None = None
        if webhook is not None:
            webhook.bind(self.firing)  # the alertmanager format re-sends what fires now
        for rule in self._rules:
            _warn_if_unrecorded(rule)
        status.register(COMPONENT, detail=f"{len(self._rules)} rules")
        if meter is not None:
            spec = semconv.metric("alerts_firing")
            meter.create_observable_gauge(
                spec.name, callbacks=[self._observe], unit=spec.unit, description=spec.description
            )

    # --- public surface -----------------------------------------------------------------
    @property
    def rules(self) -> list[AlertRuleConfig]:
        """The effective rules (defaults first, then the configured ones)."""
        return list(self._rules)

    def add_rule(self, rule: AlertRuleConfig) -> None:
        """Evaluate ``rule`` from the next evaluation on (replacing a rule of its name)."""
        if not isinstance(rule, AlertRuleConfig):
            raise TypeError(f"add_rule takes an AlertRuleConfig, not {type(rule).__name__}")
        _warn_if_unrecorded(rule)
        with self._lock:
            self._rules = [r for r in self._rules if r.name != rule.name] + [rule]
            self._evaluators = [e for e in self._evaluators if e.rule.name != rule.name]
            self._evaluators.append(RuleEvaluator(rule))
            horizon = rule.window_seconds + 2 * self.interval
            self._snapshots.horizon = max(self._snapshots.horizon, horizon)
            self._firing.pop(rule.name, None)

    def remove_rule(self, name: str) -> bool:
        """Stop evaluating the rule called ``name``; False when there is none."""
        with self._lock:
            kept = [r for r in self._rules if r.name != name]
            if len(kept) == len(self._rules):
                return False
            self._rules = kept
            self._evaluators = [e for e in self._evaluators if e.rule.name != name]
            self._firing.pop(name, None)
            return True

    def add_callback(self, fn: AlertCallback) -> None:
        """Call ``fn(alert)`` on every firing and resolution."""
        with self._lock:
            self._callbacks.append(fn)

    def history(self, limit: int = 100) -> list[Alert]:
        """The last ``limit`` state changes (firing and resolved), oldest first."""
        with self._lock:
            items = list(self._history)
        return items[-limit:] if limit > 0 else []

    def firing(self) -> list[Alert]:
        """The alerts firing now, one per rule."""
        with self._lock:
            return list(self._firing.values())

    def current_values(self) -> dict[str, float | None]:
        """Each watched metric's value at the last evaluation (None: no data)."""
        values: dict[str, float | None] = {}
        for e in list(self._evaluators):
            if values.get(e.rule.metric) is None:
                values[e.rule.metric] = e.value
        return values

    def states(self) -> dict[str, AlertState]:
        """Each rule's state (inactive, pending, firing or resolved)."""
        return {e.rule.name: e.state for e in list(self._evaluators)}

    def stats(self) -> dict[str, Any]:
        """Counters for health output; webhook figures never include the URL."""
        with self._lock:
            out: dict[str, Any] = {
                "rules": len(self._rules),
                "firing": len(self._firing),
                "last_evaluation": self._last_evaluation,
                **self._counts,
            }
        hook = self._webhook.stats() if self._webhook is not None else None
        out["webhook"] = hook
        out["webhook_queue_depth"] = hook["queue_depth"] if hook else 0
        out["deliveries_failed"] = hook["failed"] if hook else 0
        out["last_delivery_ok"] = hook["last_success"] if hook else None
        out["last_delivery_failure"] = hook["last_failure"] if hook else None
        return out

    # --- MetricsConsumer ----------------------------------------------------------------
    def consume(self, metrics: MetricsData) -> None:
        """Evaluate every rule on this snapshot; never raises."""
        with self._evaluation:
            if self._evaluating:
                return
            now = self._clock()
            try:
                snap = snapshot_from(metrics, self._keys, now)
            except Exception as exc:
                self._evaluation_failed("snapshot", exc)
                return
            self._evaluate(snap, now)

    def bind_inputs(self, inputs: Callable[[float], Snapshot]) -> None:
        """Read rule inputs with ``inputs(now)`` (an :class:`~aga_otel.alerts.inputs.AlertInputs`)
        instead of picking them out of metric snapshots; see :meth:`evaluate_now`."""
        self._inputs = inputs

    def evaluate_now(self) -> bool:
        """Evaluate every rule on inputs read from the components (the bridge is synced
        first: every event handed over before the call counts); never raises.

        The consumer runner calls this every interval instead of handing a snapshot; a
        reader may call it at any time (callbacks then run on its thread). A callback that
        calls it back gets the evaluation in progress. False when no inputs are bound (the
        runner then hands a snapshot to :meth:`consume`).
        """
        inputs = self._inputs
        if inputs is None:
            return False
        with self._evaluation:
            if self._evaluating:
                return True
            now = self._clock()
            try:
                snap = inputs(now)
            except Exception as exc:
                self._evaluation_failed("inputs", exc)
                return True
            self._evaluate(snap, now)
        return True

    def _evaluate(self, snap: Snapshot, now: float) -> None:
        self._evaluating = True
        try:
            self._evaluate_rules(snap, now)
        finally:
            self._evaluating = False

    def _evaluate_rules(self, snap: Snapshot, now: float) -> None:
        self._snapshots.add(snap)
        views: dict[float, Any] = {}
        failed = False
        with self._lock:
            evaluators = list(self._evaluators)
        for ev in evaluators:
            rule = ev.rule
            signal = SIGNALS.get(rule.metric)
            if signal is None:  # a 1.0 rule on a metric aga-otel does not record: no data
                continue
            try:
                # 1.0 rules read 1.0's latest-value metrics over the last interval only.
                latest = signal.latest if rule.semantics == "1.0" else None
                w = -1.0 if latest is not None else rule.window_seconds
                if w not in views:
                    views[w] = (
                        self._snapshots.last_interval() if w < 0 else self._snapshots.window(w)
                    )
                alert = ev.step(evaluate(rule.metric, views[w], rule.operator, latest), now)
            except Exception as exc:
                failed = True
                self._evaluation_failed(ev.rule.name, exc)
                continue
            if alert is not None:
                self._notify(alert)
        with self._lock:
            self._counts["evaluations"] += 1
            self._last_evaluation = now
        if not failed:
            self._status.success(COMPONENT, detail=f"{len(self._rules)} rules")

    def shutdown(self, timeout: float) -> None:
        """Stop the webhook sender, delivering what is queued within ``timeout``."""
        if self._webhook is not None:
            self._webhook.shutdown(timeout)

    # --- internals ----------------------------------------------------------------------
    def _notify(self, alert: Alert) -> None:
        with self._lock:
            self._history.append(alert)
            if alert.state is AlertState.FIRING:
                self._firing[alert.rule_name] = alert
            else:
                self._firing.pop(alert.rule_name, None)
            callbacks = list(self._callbacks)
        log.log(
            self._log_level,
            "alert %s %s [%s]: %s",
            alert.rule_name,
            alert.state.value,
            alert.severity,
            alert.message,
            extra={
                "alert_rule": alert.rule_name,
                "alert_state": alert.state.value,
                "alert_severity": alert.severity,
                "alert_metric": alert.metric,
                "alert_value": alert.value,
                "alert_threshold": alert.threshold,
            },
        )
        for fn in callbacks:
            try:
                fn(alert)
            except Exception as exc:
                with self._lock:
                    self._counts["callback_errors"] += 1
                log.warning("alert callback %r failed: %s", getattr(fn, "__name__", fn), exc)
        if self._webhook is not None:
            self._webhook.send(alert)

    def _evaluation_failed(self, where: str, exc: Exception) -> None:
        with self._lock:
            self._counts["evaluation_errors"] += 1
            first = where not in self._broken
            self._broken.add(where)
        # One line per broken rule, not one per evaluation interval.
        if first:
            log.error("alert evaluation failed for %s: %s: %s", where, type(exc).__name__, exc)
        self._status.failure(COMPONENT, detail=f"evaluation failed for {where}")

    def _observe(self, options: CallbackOptions) -> Iterable[Observation]:
        firing = {e.rule.name for e in list(self._evaluators) if e.state is AlertState.FIRING}
        return [
            Observation(
                1 if r.name in firing else 0,
                {semconv.ATTR_RULE: r.name, semconv.ATTR_SEVERITY: r.severity},
            )
            for r in self._rules
        ]


def _warn_if_unrecorded(rule: AlertRuleConfig) -> None:
    """aga_observability's rules (1.0's leniency) may name any metric; one with no signal
    never has data. Said once, when the rule reaches the engine."""
    if rule.metric not in SIGNALS:
        log.warning(
            "alert rule %r watches %r, which aga-otel does not record: it never fires from "
            "the event stream (alert metrics: %s)",
            rule.name, rule.metric, ", ".join(SIGNALS),
        )  # fmt: skip
