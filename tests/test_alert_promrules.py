"""Prometheus rules: generated from the same definitions, windows long enough, promtool-tested."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from aga_otel import semconv
from aga_otel.alerts import DEFAULT_RULES, promrules
from aga_otel.alerts.promrules import MIN_WINDOW_SECONDS, SCRAPE_INTERVAL_SECONDS, render
from aga_otel.config import ALERT_METRICS, AlertRuleConfig

ROOT = Path(__file__).resolve().parents[1]
RULES = ROOT / promrules.RULES_FILE
RULE_TESTS = ROOT / "collector" / "prometheus" / "rules" / "tests" / "aga-alerts.test.yml"


def test_committed_file_is_the_generator_output():
    assert RULES.read_text(encoding="utf-8") == render(), (
        "run `python -m aga_otel.alerts.promrules --write`"
    )


def test_check_mode(tmp_path):
    out = tmp_path / "rules.yml"
    assert promrules.main(["--check", "--output", str(out)]) == 1
    assert promrules.main(["--write", "--output", str(out)]) == 0
    assert promrules.main(["--check", "--output", str(out)]) == 0


def test_every_default_rule_is_in_the_file_with_its_severity():
    doc = yaml.safe_load(RULES.read_text(encoding="utf-8"))
    rules = {r["alert"]: r for g in doc["groups"] for r in g["rules"]}
    assert set(rules) == {r.name for r in DEFAULT_RULES}
    for r in DEFAULT_RULES:
        assert rules[r.name]["labels"]["severity"] == r.severity


def _ranges(text: str) -> list[int]:
    return [int(m) for m in re.findall(r"\[(\d+)s(?::\d+s)?\]", text)]


def test_windows_cover_four_scrape_intervals():
    assert SCRAPE_INTERVAL_SECONDS == 5 and MIN_WINDOW_SECONDS == 4 * SCRAPE_INTERVAL_SECONDS
    text = RULES.read_text(encoding="utf-8")
    assert _ranges(text) and min(_ranges(text)) >= 4 * SCRAPE_INTERVAL_SECONDS
    short = AlertRuleConfig(name="short", metric="events_dropped_rate", window_seconds=5)
    assert min(_ranges(render([short]))) == MIN_WINDOW_SECONDS  # widened, never empty


def test_promql_uses_the_semconv_names_and_aggregates_per_instance():
    text = render(
        [AlertRuleConfig(name=m, metric=m) for m in ALERT_METRICS]
        + [AlertRuleConfig(name="a", metric="activation_rate", kind="adaptive")]
    )
    for key in ("forward_duration", "gate_value", "entropy_value", "activation_rate",
                "knowledge_utilization", "knowledge_count", "slot_change_rate",
                "retrieval_results", "retrieval_injected", "events_dropped"):  # fmt: skip
        assert semconv.prom(key) in text
    for expr in re.findall(r"expr: (.*)", text):
        assert "sum by" in expr or "max by" in expr
        assert "service_instance_id" in expr


def _promtool() -> str | None:
    found = shutil.which("promtool")
    if found is None and os.environ.get("CI", "").lower() == "true":
        pytest.fail("promtool missing in CI: install the Debian package `prometheus`")
    if found is None:
        pytest.skip("promtool not installed (Debian package `prometheus`)")
    return found


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(args, capture_output=True, text=True, timeout=60, cwd=ROOT)


def test_promtool_check_rules():
    res = _run(_promtool(), "check", "rules", str(RULES))
    assert res.returncode == 0, res.stdout + res.stderr


def test_promtool_check_rules_for_every_metric_and_kind(tmp_path):
    rules = [AlertRuleConfig(name=f"{m}_{op}", metric=m, operator=op, for_seconds=30)
             for m in ALERT_METRICS for op in (">", "==")]  # fmt: skip
    rules += [AlertRuleConfig(name=f"{m}_adaptive_{op}", metric=m, operator=op, kind="adaptive")
              for m in ALERT_METRICS for op in (">", "<", "==")]  # fmt: skip
    out = tmp_path / "all.yml"
    out.write_text(render(rules), encoding="utf-8")
    res = _run(_promtool(), "check", "rules", str(out))
    assert res.returncode == 0, res.stdout + res.stderr


def test_promtool_unit_tests_fire_and_resolve_every_default_rule():
    tested = set(re.findall(r"alertname: (\w+)", RULE_TESTS.read_text(encoding="utf-8")))
    assert tested == {r.name for r in DEFAULT_RULES}
    res = _run(_promtool(), "test", "rules", str(RULE_TESTS))
    assert res.returncode == 0, res.stdout + res.stderr
