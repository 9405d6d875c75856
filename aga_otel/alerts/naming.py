"""How an alert is named and labelled outside the process: one table for the generated
Prometheus rules and for the ``alertmanager`` webhook format, so both reach Alertmanager
with the same identity and the same routes and inhibitions apply to both.

- ``alertname`` is CamelCase with an ``Aga`` prefix (``slo_latency_p99`` →
  ``AgaSloLatencyP99``), the convention of Prometheus alerting rules; the in-process name
  stays as it is (``aga_alerts_firing{rule}``, callbacks, the 1.0 API) and travels in the
  ``rule`` label.
- ``slo`` carries the alert metric (``latency_p99``): a critical alert inhibits the warning
  of the same ``slo`` on the same instance (collector/alertmanager/alertmanager.yml).
- ``runbook_url`` points at the alert's section of docs/runbooks.md.
"""

from __future__ import annotations

RUNBOOKS = "https://github.com/aga-otel/aga-otel/blob/main/docs/runbooks.md"
# Rules of the user's own, without a section of their own in docs/runbooks.md.
CUSTOM_RUNBOOK_ANCHOR = "custom-rules"
ALERTNAME_PREFIX = "Aga"

LABEL_RULE = "rule"
LABEL_SEVERITY = "severity"
LABEL_SLO = "slo"


def alert_name(rule_name: str) -> str:
    """The CamelCase Alertmanager name of an in-process rule name."""
    camel = "".join(part[:1].upper() + part[1:] for part in rule_name.split("_") if part)
    return camel if camel.startswith(ALERTNAME_PREFIX) else ALERTNAME_PREFIX + camel


def alert_labels(rule_name: str, severity: str, slo: str) -> dict[str, str]:
    """The identifying labels of one rule's alerts (``alertname`` included)."""
    return {
        "alertname": alert_name(rule_name),
        LABEL_RULE: rule_name,
        LABEL_SEVERITY: severity,
        LABEL_SLO: slo,
    }


def runbook_url(alertname: str, documented: bool = True) -> str:
    """The runbook link of ``alertname`` (GitHub's anchor of a ``## Name`` heading)."""
    return f"{RUNBOOKS}#{alertname.lower() if documented else CUSTOM_RUNBOOK_ANCHOR}"
