"""Issue 27: alert messages a person reads: values rounded to the rule's precision (the
threshold's decimals plus two), ``n/a`` instead of ``nan``, explicit format specs kept."""

from __future__ import annotations

import pytest

from aga_otel.alerts.lifecycle import format_message
from aga_otel.config import AlertRuleConfig

CASES = [
    ("entropy_mean", 3.5, None, 2.08854118241966, "e: entropy_mean=2.089 (threshold 3.5)"),
    ("latency_p99_seconds", 0.001, None, 0.0012345678, "e: latency_p99_seconds=0.00123 (threshold 0.001)"),
    ("knowledge_count", 100, None, 123.456789, "e: knowledge_count=123.46 (threshold 100)"),
    ("gate_mean", 0.5, None, 0.5, "e: gate_mean=0.5 (threshold 0.5)"),
    ("entropy_mean", 3.5, None, None, "e: entropy_mean=n/a (threshold 3.5)"),
    ("entropy_mean", 3.5, None, float("nan"), "e: entropy_mean=n/a (threshold 3.5)"),
    ("entropy_mean", 3.5, "{value:.1f}/{threshold:.2f}", 2.0885, "2.1/3.50"),
]  # fmt: skip


@pytest.mark.parametrize(("metric", "threshold", "template", "value", "shown"), CASES)
def test_message_values_are_rounded_and_never_nan(metric, threshold, template, value, shown):
    extra = {"message": template} if template else {}
    rule = AlertRuleConfig(name="e", metric=metric, operator=">", threshold=threshold, **extra)
    text = format_message(rule, value, threshold)
    assert text == shown and "nan" not in text
