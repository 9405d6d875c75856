"""The default SLO rules of aga-observability 1.0, in this package's units (seconds).

aga-observability 1.0 expressed latency in microseconds (``aga_forward_latency_us``); this
package records ``aga.forward.duration`` in seconds, so "p99 > 1 ms" is ``threshold=0.001``.
"""

from __future__ import annotations

from aga_otel.config import AlertRuleConfig, ObservabilityConfig

DEFAULT_RULES: tuple[AlertRuleConfig, ...] = (
    AlertRuleConfig(
        name="slo_latency_p99",
        metric="latency_p99",
        operator=">",
        threshold=0.001,
        window_seconds=60,
        severity="warning",
        message="AGA p99 forward latency {value:.6f}s above {threshold}s",
    ),
    AlertRuleConfig(
        name="slo_latency_critical",
        metric="latency_p99",
        operator=">",
        threshold=0.005,
        window_seconds=30,
        severity="critical",
        message="AGA p99 forward latency {value:.6f}s above {threshold}s (critical)",
    ),
    AlertRuleConfig(
        name="high_utilization",
        metric="knowledge_utilization",
        operator=">",
        threshold=0.95,
        window_seconds=60,
        severity="warning",
        message="AGA knowledge store utilization {value:.2f} above {threshold}",
    ),
    AlertRuleConfig(
        name="slot_thrashing",
        metric="slot_change_rate",
        operator=">",
        threshold=0.5,
        window_seconds=60,
        severity="warning",
        message="AGA slot change rate {value:.2f} above {threshold}",
    ),
)


def effective_rules(config: ObservabilityConfig) -> list[AlertRuleConfig]:
    """Default rules (when ``alert_default_rules``) followed by ``config.alert_rules``.

    A user rule with the name of a default rule replaces it, so a default can be retuned
    without switching all defaults off.
    """
    user = list(config.alert_rules)
    names = {r.name for r in user}
    defaults = (
        [r for r in DEFAULT_RULES if r.name not in names] if config.alert_default_rules else []
    )
    return defaults + user
