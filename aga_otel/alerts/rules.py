"""The default SLO rules: aga-observability 1.0's four rules, as 1.0 defined them.

Latency is in microseconds, as in 1.0 (``latency_p99`` is µs; ``latency_p99_seconds``
would be the same quantity in seconds), so "p99 > 1 ms" is ``threshold=1000``.
"""

from __future__ import annotations

import dataclasses

from aga_otel.config import AlertRuleConfig, ObservabilityConfig

DEFAULT_RULES: tuple[AlertRuleConfig, ...] = (
    AlertRuleConfig(
        name="slo_latency_p99",
        metric="latency_p99",
        operator=">",
        threshold=1000.0,
        window_seconds=60,
        severity="warning",
        message="AGA p99 forward latency {value:.0f}us above {threshold:.0f}us",
        cooldown_seconds=300,
    ),
    AlertRuleConfig(
        name="slo_latency_critical",
        metric="latency_p99",
        operator=">",
        threshold=5000.0,
        window_seconds=30,
        severity="critical",
        message="AGA p99 forward latency {value:.0f}us above {threshold:.0f}us (critical)",
        cooldown_seconds=60,
    ),
    AlertRuleConfig(
        name="high_utilization",
        metric="knowledge_utilization",
        operator=">",
        threshold=0.95,
        window_seconds=60,
        severity="warning",
        message="AGA knowledge store utilization {value:.2f} above {threshold}",
        cooldown_seconds=600,
    ),
    AlertRuleConfig(
        name="slot_thrashing",
        metric="slot_change_rate",
        operator=">",
        threshold=0.5,
        window_seconds=30,
        severity="warning",
        message="AGA slot change rate {value:.2f} above {threshold}",
        cooldown_seconds=120,
    ),
)


def default_rules(semantics: str = "otel") -> list[AlertRuleConfig]:
    """``DEFAULT_RULES`` evaluated with ``semantics`` ("otel" or "1.0")."""
    return [dataclasses.replace(r, semantics=semantics) for r in DEFAULT_RULES]


def effective_rules(config: ObservabilityConfig) -> list[AlertRuleConfig]:
    """Default rules (when ``alert_default_rules``) followed by ``config.alert_rules``.

    A user rule with the name of a default rule replaces it, so a default can be retuned
    without switching all defaults off. The defaults take the config class's
    ``rule_semantics`` ("1.0" for aga_observability's ObservabilityConfig).
    """
    user = list(config.alert_rules)
    names = {r.name for r in user}
    defaults = default_rules(getattr(type(config), "rule_semantics", "otel"))
    defaults = [r for r in defaults if r.name not in names] if config.alert_default_rules else []
    return defaults + user
