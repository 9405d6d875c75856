"""Prometheus rules: generated from the same definitions, correct for the scrape interval of
the Prometheus they run in, promtool-tested at 15 s and 60 s, firing and not firing."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
import yaml
from promtool_cases import COMMITTED, build, expectations, render_committed
from test_prometheus_server_support import PROMTOOL, require_binary

from aga_otel import semconv
from aga_otel.alerts import DEFAULT_RULES, naming, promrules
from aga_otel.alerts.promrules import render
from aga_otel.config import ALERT_METRICS, AlertRuleConfig

ROOT = Path(__file__).resolve().parents[1]
RULES = ROOT / promrules.RULES_FILE
RUNBOOKS = ROOT / "docs" / "runbooks.md"
BUNDLED = ROOT / "collector" / "prometheus" / "prometheus.yml"
EVERY_METRIC = [AlertRuleConfig(name=m, metric=m, window_seconds=10) for m in ALERT_METRICS] + [
    AlertRuleConfig(name="adaptive", metric="activation_rate", kind="adaptive")
]


def alerts(text: str) -> dict[str, dict]:
    return {r["alert"]: r for g in yaml.safe_load(text)["groups"] for r in g["rules"]}


def seconds(duration: str) -> int:
    return int(duration.removesuffix("s"))


def test_committed_file_is_the_generator_output_for_the_bundled_prometheus():
    assert RULES.read_text(encoding="utf-8") == render(), (
        "run `python -m aga_otel.alerts.promrules --write`"
    )
    glob = yaml.safe_load(BUNDLED.read_text())["global"]
    assert seconds(glob["scrape_interval"]) == promrules.SCRAPE_INTERVAL_SECONDS == 15
    assert seconds(glob["evaluation_interval"]) == promrules.EVALUATION_INTERVAL_SECONDS == 15


def test_check_mode_and_intervals_on_the_command_line(tmp_path):
    out = tmp_path / "rules.yml"
    assert promrules.main(["--check", "--output", str(out)]) == 1
    args = ["--output", str(out), "--scrape-interval", "60"]
    assert promrules.main(["--write", *args]) == 0
    assert promrules.main(["--check", *args]) == 0
    assert promrules.main(["--check", "--output", str(out)]) == 1  # made for 60 s, not 15 s
    assert "for scrape interval 60s" in out.read_text()


def test_aga_otel_rules_command(capsys):
    from aga_otel.cli import main

    assert main(["rules", "--check", "--output", str(RULES)]) == 0
    assert main(["rules", "--check", "--output", str(RULES), "--scrape-interval", "60"]) == 1
    assert main(["rules", "--evaluation-interval", "30", "--prefix", "x"]) == 0
    out = capsys.readouterr().out
    assert "evaluation interval 30s" in out and "x_forward_duration_seconds_bucket" in out


@pytest.mark.parametrize(
    ("rule_name", "alertname"),
    [("slo_latency_p99", "AgaSloLatencyP99"), ("high_utilization", "AgaHighUtilization"),
     ("otel_events_dropped", "AgaOtelEventsDropped"), ("aga_custom", "AgaCustom"),
     ("x__y", "AgaXY")],
)  # fmt: skip
def test_alert_names_are_camel_case(rule_name, alertname):
    assert naming.alert_name(rule_name) == alertname


def test_every_default_rule_keeps_its_in_process_name_in_the_rule_label():
    rules = alerts(RULES.read_text(encoding="utf-8"))
    for r in DEFAULT_RULES:
        entry = rules[naming.alert_name(r.name)]
        assert entry["labels"] == {"rule": r.name, "severity": r.severity, "slo": r.metric}
    assert set(rules) == set(expectations())  # the defaults and the four pipeline alerts


def test_every_alert_has_for_summary_description_and_a_runbook_section():
    anchors = {
        line[3:].strip().lower().replace(" ", "-") for line in RUNBOOKS.read_text().splitlines()
        if line.startswith("## ")
    }  # fmt: skip
    for name, entry in alerts(RULES.read_text(encoding="utf-8")).items():
        assert seconds(entry["for"]) >= 30, name
        assert entry["labels"]["severity"] in ("warning", "critical"), name
        annotations = entry["annotations"]
        assert annotations["summary"] and annotations["description"], name
        url = annotations["runbook_url"]
        assert url.startswith(naming.RUNBOOKS + "#"), name
        assert url.rsplit("#", 1)[1] in anchors, f"{name}: no section in docs/runbooks.md"
    custom = alerts(render([AlertRuleConfig(name="mine", metric="gate_mean")]))["AgaMine"]
    assert custom["annotations"]["runbook_url"].endswith("#" + naming.CUSTOM_RUNBOOK_ANCHOR)
    assert naming.CUSTOM_RUNBOOK_ANCHOR in anchors


def _ranges(text: str) -> list[int]:
    return [int(m) for m in re.findall(r"\[(\d+)s(?::\d+s)?\]", text)]


@pytest.mark.parametrize("scrape", [1, 5, 15, 30, 60, 120])
def test_windows_and_for_scale_with_the_scrape_interval(scrape):
    text = render(EVERY_METRIC, scrape_interval=scrape)
    assert _ranges(text) and min(_ranges(text)) >= 4 * scrape
    for name, entry in alerts(text).items():
        assert seconds(entry["for"]) >= 2 * max(scrape, 15), name


def test_a_rule_s_own_for_and_window_are_kept_when_longer():
    rule = AlertRuleConfig(name="slow", metric="gate_mean", window_seconds=600, for_seconds=900)
    entry = alerts(render([rule], pipeline_alerts=False))["AgaSlow"]
    assert entry["for"] == "900s" and _ranges(entry["expr"]) == [600, 600]


def test_promql_uses_the_semconv_names_and_aggregates_per_instance():
    text = render(EVERY_METRIC)
    for key in ("forward_duration", "gate_value", "entropy_value", "activation_rate",
                "knowledge_utilization", "knowledge_count", "slot_change_rate",
                "retrieval_results", "retrieval_injected", "events_dropped",
                "export_failures", "health_status", "events_received"):  # fmt: skip
        assert semconv.prom(key) in text
    for expr in re.findall(r"expr: (.*)", text):
        assert "by (job, instance" in expr or "by (le, job, instance)" in expr, expr


def test_prefix_renames_aga_metrics_but_not_the_pipeline_s():
    text = render(EVERY_METRIC, prefix="myaga")
    assert "myaga_forward_duration_seconds_bucket" in text
    assert "myaga_health_status" in text
    assert "aga_otel_events_dropped_total" in text and "myaga_otel" not in text
    for expr in re.findall(r"expr: (.*)", text):
        assert not re.search(r"(?<![\w])aga_(?!otel_)", expr), f"aga_ name not renamed: {expr}"
    assert render(prefix="aga") == render()


def test_bad_intervals_are_refused():
    with pytest.raises(ValueError):
        render(scrape_interval=0)


def _promtool(*args: str) -> subprocess.CompletedProcess:
    require_binary(PROMTOOL)
    return subprocess.run([PROMTOOL, *args], capture_output=True, text=True, timeout=60)


def test_promtool_check_rules():
    res = _promtool("check", "rules", str(RULES))
    assert res.returncode == 0, res.stdout + res.stderr


def test_promtool_check_rules_for_every_metric_kind_and_prefix(tmp_path):
    rules = [AlertRuleConfig(name=f"{m}_{op}", metric=m, operator=op, for_seconds=30)
             for m in ALERT_METRICS for op in (">", "==")]  # fmt: skip
    rules += [AlertRuleConfig(name=f"{m}_adaptive_{op}", metric=m, operator=op, kind="adaptive")
              for m in ALERT_METRICS for op in (">", "<", "==")]  # fmt: skip
    out = tmp_path / "all.yml"
    out.write_text(render(rules, scrape_interval=60, prefix="vllm_aga"), encoding="utf-8")
    res = _promtool("check", "rules", str(out))
    assert res.returncode == 0, res.stdout + res.stderr


def test_committed_promtool_tests_are_current_and_pass():
    assert COMMITTED.read_text() == render_committed(), (
        "run: python tests/promtool_cases.py --write"
    )
    res = _promtool("test", "rules", str(COMMITTED))
    assert res.returncode == 0, res.stdout + res.stderr


def _unit_test(
    tmp_path: Path, made_for: float, scraped_every: float
) -> subprocess.CompletedProcess:
    rules = tmp_path / f"rules-{made_for:g}.yml"
    rules.write_text(render(scrape_interval=made_for))
    cases = tmp_path / f"cases-{scraped_every:g}.yml"
    cases.write_text(yaml.safe_dump(build(scraped_every, rules)))
    return _promtool("test", "rules", str(cases))


@pytest.mark.parametrize("scrape", [15, 60])
def test_every_alert_fires_and_resolves_at_the_scrape_interval(tmp_path, scrape):
    """One case per alert at the end of each phase: quiet, firing, (critical), resolved."""
    res = _unit_test(tmp_path, scrape, scrape)
    assert res.returncode == 0, res.stdout + res.stderr


def test_rules_made_for_15s_cannot_fire_at_a_60s_scrape(tmp_path):
    """The failure the issue reported: a window shorter than 2 samples never fires. The same
    cases fail on rules made for the wrong interval, so they can fail."""
    res = _unit_test(tmp_path, 15, 60)
    assert res.returncode != 0
    assert "AgaSloLatencyP99" in res.stdout + res.stderr
