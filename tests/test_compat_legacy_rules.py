"""The aga-observability 1.0 recording rules: generated, committed, valid, and correct."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from aga_otel import legacy_rules, semconv
from aga_otel.semconv import Kind, MetricSpec

ROOT = Path(__file__).resolve().parent.parent
RULES = ROOT / legacy_rules.RULES_FILE
RULE_TESTS = ROOT / "collector" / "prometheus" / "rules" / "tests" / "aga-legacy.test.yml"


def promtool() -> str:
    """promtool's path; in CI (CI=true) a missing promtool fails instead of skipping."""
    path = shutil.which("promtool") or (
        "/usr/bin/promtool" if Path("/usr/bin/promtool").exists() else None
    )
    if path is None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("promtool not found (scripts/install-system-deps.sh installs it)")
        pytest.skip("promtool not installed")
    return path


def test_committed_file_matches_generator():
    assert RULES.read_text() == legacy_rules.render(), (
        "stale: run python -m aga_otel.legacy_rules --write"
    )


def test_check_mode_reports_fresh_file(monkeypatch):
    monkeypatch.chdir(ROOT)
    assert legacy_rules.main(["--check"]) == 0


def test_promtool_check_rules():
    out = subprocess.run(
        [promtool(), "check", "rules", str(RULES)], capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stdout + out.stderr


def test_promtool_unit_tests():
    out = subprocess.run(
        [promtool(), "test", "rules", str(RULE_TESTS)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=RULE_TESTS.parent,
    )
    assert out.returncode == 0, out.stdout + out.stderr


@pytest.mark.parametrize(
    ("value", "text"),
    [(10.0, "10.0"), (1e-05, "1e-05"), (5e-06, "5e-06"), (0.0001, "0.0001"), (7.5, "7.5")],
)
def test_go_float_spells_like_prometheus_client(value, text):
    from prometheus_client.utils import floatToGoString

    assert legacy_rules.go_float(value) == text == floatToGoString(value)


def test_le_spellings_cover_exponent_and_fixed_point():
    assert legacy_rules.le_spellings(1e-05) == ["1e-05", "0.00001"]
    assert legacy_rules.le_spellings(0.0025) == ["0.0025"]


def test_only_renamed_metrics_get_rules():
    records = {r["record"] for r in legacy_rules.legacy_rules()}
    renamed = [m for m in semconv.METRICS if m.legacy and m.legacy != m.prometheus_name]
    assert renamed, "the table has no renamed metric any more: is this module still needed?"
    for spec in semconv.METRICS:
        if spec.legacy and spec.legacy == spec.prometheus_name:
            assert not any(r.startswith(spec.legacy) for r in records)
    assert "aga_forward_latency_us_sum" in records
    assert "aga_forward_latency_us:p99" in records


def test_every_bucket_bound_is_recreated_in_microseconds():
    spec = semconv.metric("forward_duration")
    les = [
        r["labels"]["le"]
        for r in legacy_rules.legacy_rules()
        if r["record"] == "aga_forward_latency_us_bucket"
    ]
    expected = [legacy_rules.go_float(round(b * 1e6, 9)) for b in spec.buckets] + ["+Inf"]
    assert les == expected
    assert les[:3] == ["5.0", "10.0", "25.0"]


def test_renamed_non_histogram_is_a_plain_rename():
    spec = MetricSpec("x", "aga.new.thing", Kind.GAUGE, "", "d", legacy="aga_old_thing")
    assert legacy_rules.legacy_rules([spec]) == [
        {"record": "aga_old_thing", "expr": "aga_new_thing"}
    ]
