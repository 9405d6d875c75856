"""promtool unit tests for the generated alert rules, for any scrape interval (no tests here).

``build(scrape, rules_file)`` returns a ``promtool test rules`` document in which series are
sampled every ``scrape`` seconds over four phases of 40 samples each:

    A healthy | B warning-level breach | C critical latency | D healthy again

and every alert of the default rules and of the pipeline is checked not firing at the end of
A, firing at the end of B (and C) and resolved at the end of D. The expected values come from
the scenario (a p99 inside the (1 ms, 2.5 ms] bucket is 0.001 + 0.99 × 0.0015), the expected
annotations from the rule file's own templates with that value filled in.

Write the committed 15 s copy with ``python tests/promtool_cases.py --write``.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
COMMITTED = ROOT / "collector" / "prometheus" / "rules" / "tests" / "aga-alerts.test.yml"
SAMPLES_PER_PHASE = 40
JOB, INSTANCE, GONE = "aga", "i-1", "i-2"
BUCKETS = ("0.0005", "0.001", "0.0025", "0.005", "0.01", "+Inf")
# Per phase: the bucket every observation of that phase falls into.
LATENCY_BUCKET = {"A": "0.0005", "B": "0.0025", "C": "0.01", "D": "0.0005"}
P99 = {"B": 0.001 + 0.99 * 0.0015, "C": 0.005 + 0.99 * 0.005}
PHASES = "ABCD"


def _series(name: str, labels: dict[str, str], values: list[float | None]) -> dict:
    text = ",".join(f'{k}="{v}"' for k, v in {**labels, "job": JOB}.items())
    return {"series": f"{name}{{{text}}}", "values": " ".join(_fmt(v) for v in values)}


def _fmt(v: float | None) -> str:
    return "_" if v is None else f"{v:g}"


def _counter(rate_per_phase: dict[str, float], scrape: float) -> list[float]:
    out, total = [], 0.0
    for phase in PHASES:
        for _ in range(SAMPLES_PER_PHASE):
            total += rate_per_phase.get(phase, 0.0) * scrape
            out.append(total)
    return out


def _gauge(value_per_phase: dict[str, float | None]) -> list[float | None]:
    return [value_per_phase[p] for p in PHASES for _ in range(SAMPLES_PER_PHASE)]


def input_series(scrape: float) -> list[dict]:
    here = {"instance": INSTANCE}
    series = []
    for le in BUCKETS:
        rates = {p: 10.0 for p in PHASES if float(le) >= float(LATENCY_BUCKET[p])}
        series.append(_series("aga_forward_duration_seconds_bucket", {**here, "layer": "0",
                                                                      "le": le},
                              _counter(rates, scrape)))  # fmt: skip
    series += [
        _series("aga_knowledge_utilization", here, _gauge({"A": 0.5, "B": 0.97, "C": 0.97,
                                                            "D": 0.5})),  # fmt: skip
        _series("aga_slot_change_rate", here, _gauge({"A": 0.1, "B": 0.8, "C": 0.8, "D": 0.1})),
        _series("aga_otel_events_dropped_total", {**here, "reason": "queue_full"},
                _counter({"B": 1.0}, scrape)),
        _series("aga_otel_export_failures_total", {**here, "exporter": "otlp_metrics"},
                _counter({"B": 0.5}, scrape)),
        _series("aga_health_status", {**here, "component": "exporter.otlp_metrics"},
                _gauge({"A": 2, "B": 0, "C": 0, "D": 2})),
        _series("aga_otel_events_received_total", here, _counter(dict.fromkeys(PHASES, 5.0),
                                                                 scrape)),  # fmt: skip
        # A second instance that stops reporting after phase C.
        _series("aga_otel_events_received_total", {"instance": GONE},
                [v if i < 3 * SAMPLES_PER_PHASE else None
                 for i, v in enumerate(_counter(dict.fromkeys(PHASES, 5.0), scrape))]),
    ]  # fmt: skip
    return series


# alertname → {phase: (extra labels, value)} for the phases in which it fires.
def expectations() -> dict[str, dict[str, tuple[dict, float]]]:
    me = {"instance": INSTANCE}
    return {
        # The latency rules read µs, as aga-observability 1.0's did (P99 is in seconds).
        "AgaSloLatencyP99": {"B": (me, P99["B"] * 1e6), "C": (me, P99["C"] * 1e6)},
        "AgaSloLatencyCritical": {"C": (me, P99["C"] * 1e6)},
        "AgaHighUtilization": {"B": (me, 0.97), "C": (me, 0.97)},
        "AgaSlotThrashing": {"B": (me, 0.8), "C": (me, 0.8)},
        "AgaOtelEventsDropped": {"B": ({**me, "reason": "queue_full"}, 1.0)},
        "AgaOtelExportFailing": {"B": ({**me, "exporter": "otlp_metrics"}, 0.5)},
        "AgaOtelComponentUnhealthy": {
            p: ({**me, "component": "exporter.otlp_metrics"}, 0.0) for p in "BC"
        },
        "AgaOtelInstanceAbsent": {"D": ({"instance": GONE}, 1.0)},
    }


_PRINTF = re.compile(r'\{\{ printf "%\.(\d+)f" \$value \}\}')
_LABEL = re.compile(r"\{\{ \$labels\.(\w+) \}\}")


def fill(template: str, labels: dict[str, str], value: float) -> str:
    """A rule annotation as Prometheus renders it, for the templates the generator writes."""
    text = _PRINTF.sub(lambda m: f"{value:.{m[1]}f}", template)
    text = _LABEL.sub(lambda m: labels.get(m[1], ""), text)
    assert "{{" not in text, f"template construct the test cannot render: {template}"
    return text


def build(scrape: float, rules: Path, evaluation: float = 15.0, ref: str | None = None) -> dict:
    """The promtool document for the rule file ``rules`` (named ``ref`` in the document)."""
    rules_by_name = {
        r["alert"]: r for g in yaml.safe_load(rules.read_text())["groups"] for r in g["rules"]
    }
    expected = expectations()
    assert set(rules_by_name) == set(expected), sorted(set(rules_by_name) ^ set(expected))
    phase_len = SAMPLES_PER_PHASE * scrape
    tests = []
    for name, firing in expected.items():
        rule = rules_by_name[name]
        for i, phase in enumerate(PHASES):
            alerts = []
            if phase in firing:
                extra, value = firing[phase]
                labels = {"job": JOB, **extra, **rule["labels"]}
                annotations = {k: fill(v, labels, value) for k, v in rule["annotations"].items()}
                alerts.append({"exp_labels": labels, "exp_annotations": annotations})
            # The last sample of each phase: every window lies inside the phase.
            at = f"{int((i + 1) * phase_len - scrape)}s"
            tests.append({"eval_time": at, "alertname": name, "exp_alerts": alerts})
    return {
        "rule_files": [ref or str(rules)],
        "evaluation_interval": f"{evaluation:g}s",
        "tests": [{"interval": f"{scrape:g}s", "input_series": input_series(scrape),
                   "alert_rule_test": tests}],
    }  # fmt: skip


HEADER = (
    "# promtool unit tests for ../aga-alerts.yml, written by `python tests/promtool_cases.py"
    " --write`.\n#   promtool test rules collector/prometheus/rules/tests/aga-alerts.test.yml\n"
    "# Samples every 15 s in four phases of 600 s: A healthy, B warning-level breach "
    "(p99 ~2.5 ms,\n# utilisation 0.97, slot changes 0.8, drops, export failures, an "
    "unhealthy component),\n# C critical latency (p99 ~10 ms), D healthy, with instance i-2 "
    "gone. Each alert is checked\n# at the end of every phase: firing or not.\n"
)


def render_committed() -> str:
    doc = build(15.0, COMMITTED.parent.parent / "aga-alerts.yml", ref="../aga-alerts.yml")
    return HEADER + yaml.safe_dump(doc, sort_keys=False, width=1000)


if __name__ == "__main__":
    if sys.argv[1:] == ["--write"]:
        COMMITTED.write_text(render_committed())
        print(f"wrote {COMMITTED}")
    else:
        sys.stdout.write(render_committed())
