"""The docs name only what exists: every ``aga_...`` metric name in README.md and docs/*.md
is in a real ``/metrics`` scrape of a running ``aga-otel demo`` (the whole stack: bridge,
metrics, logs, audit, alerts, health), or is recorded by the bundled rules, or is on an
allow-list with its reason; and every log and span attribute name of ``aga_otel.semconv``
is in the table of docs/telemetry-attributes.md, as a real alert record's attributes are.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from conftest import local_config, simulate
from otlp_receiver import GrpcReceiver, attrs
from prometheus_client.parser import text_string_to_metric_families
from test_prometheus_server_support import start_demo, stop, wait_for

from aga_otel import AlertRuleConfig
from aga_otel import semconv as sc

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
TABLE = ROOT / "docs" / "telemetry-attributes.md"
RULE_FILES = sorted((ROOT / "collector" / "prometheus" / "rules").glob("*.yml"))
# ``aga_`` words in the docs that are not metric names, and why.
NOT_METRICS = {
    "aga_otel": "the Python package (and its module paths)",
    "aga_observability": "the aga-observability 1.0 package",
    "aga_applied": "a field of aga-core's forward event",
    "aga_audit_log": "a PostgreSQL table of the shared audit trail",
    "aga_audit_head": "a PostgreSQL table of the shared audit trail",
    "aga_audit_schema": "a PostgreSQL table of the shared audit trail",
    "aga_audit_spill": "the default audit_spill_dir",
    # aga-observability 1.0's histogram, now only its recorded _bucket/_sum/_count series
    "aga_forward_latency_us": "1.0's name, kept as recording rules (legacy_rules.py)",
}
# A word: aga_ + name characters; ``*`` after it makes it a prefix (``aga_otel_events_*``);
# a following ``.x`` makes it a file or module (``aga_audit.db``, ``aga_otel.semconv``).
WORD = re.compile(r"(?<![\w.$/-])(aga_[a-z0-9_:]*[a-z0-9])(_?\*)?(?!\.[a-z]|[\w/-])")


def documented_names() -> dict[str, set[str]]:
    """``name`` (``prefix*`` for a wildcard) → the files that mention it."""
    out: dict[str, set[str]] = {}
    for path in DOCS:
        for m in WORD.finditer(path.read_text(encoding="utf-8")):
            name = m.group(1) + ("*" if m.group(2) else "")
            out.setdefault(name, set()).add(path.name)
    return out


def recorded_by_rules() -> set[str]:
    return {rule["record"] for f in RULE_FILES for g in yaml.safe_load(f.read_text())["groups"]
            for rule in g["rules"] if "record" in rule}  # fmt: skip


def _names(text: str) -> set[str]:
    names = set()
    for fam in text_string_to_metric_families(text):
        names.add(fam.name)
        names.update(s.name for s in fam.samples)
    return names


@pytest.fixture(scope="module")
def scraped(tmp_path_factory) -> set[str]:
    """The demo's scrape once every documented name is in it, or its last one at the
    deadline (series appear with their first event: retrievals, the first health check)."""
    demo = start_demo(5, tmp_path_factory.mktemp("docs") / "demo.log")
    wanted = {n for n in documented_names() if not n.endswith("*")} - NOT_METRICS.keys()
    wanted -= recorded_by_rules()
    last: set[str] = set()

    def complete() -> bool:
        nonlocal last
        last = _names(demo.scrape())
        return wanted <= last

    try:
        try:
            wait_for(complete, 30, "every documented name in the scrape")
        except AssertionError:
            pass  # the test below names what is missing
    finally:
        stop(demo.proc)
    return last


def test_every_documented_metric_name_is_in_a_real_scrape(scraped):
    recorded = recorded_by_rules()
    missing = {}
    for name, where in documented_names().items():
        if name.endswith("*"):
            ok = any(n.startswith(name[:-1]) for n in scraped | recorded)
        else:
            ok = name in scraped or name in recorded or name in NOT_METRICS
        if not ok:
            missing[name] = where
    report = "\n".join(f"  {n}  ({', '.join(sorted(w))})" for n, w in sorted(missing.items()))
    assert not missing, f"names in the docs that no scrape shows:\n{report}"


def test_the_check_reads_what_the_docs_say():
    names = documented_names()
    assert "aga_forward_duration_seconds_bucket" in names and "aga_otel_events*" in names
    assert "aga_audit" not in names  # aga_audit.db is a file
    assert not {n for n in NOT_METRICS if n not in names}, "stale allow-list entries"
    assert {"aga_forward_latency_us_bucket", "aga_forward_latency_us:p99"} <= recorded_by_rules()


def _semconv_attribute_names() -> set[str]:
    prefixes = ("A_", "SPAN_ATTR_")
    names = {v for k, v in vars(sc).items() if k.startswith(prefixes) and isinstance(v, str)}
    names |= {sc.EVENT_ALERT, sc.AUDIT_EVENT_NAME, sc.UNKNOWN_EVENT_NAME, sc.FORWARD_SPAN,
              sc.GENAI_OPERATION_RETRIEVAL, sc.AUDIT_SPAN_PREFIX.strip(), sc.ERROR_TYPE_OTHER}  # fmt: skip
    names |= {sc.EVENT_NAME_PREFIX + t for t in sc.KNOWN_EVENT_TYPES}
    return names


def test_every_log_and_span_name_of_semconv_is_in_the_table():
    table = TABLE.read_text(encoding="utf-8")
    listed = set(re.findall(r"`([^`]+)`", table))
    listed |= {w for item in listed for w in item.split() if "." in w}  # `aga.audit <op>`
    missing = sorted(_semconv_attribute_names() - listed)
    assert not missing, f"not in docs/telemetry-attributes.md: {missing}"


def test_a_real_alert_records_attributes_are_the_tables(plugin, make_stack):
    rule = AlertRuleConfig(name="entropy_seen", metric="entropy_mean", operator=">",
                           threshold=0.0, severity="critical", message="{name} {value}")  # fmt: skip
    with GrpcReceiver() as receiver:
        cfg = local_config(log_enabled=True, otlp_endpoint=receiver.endpoint,
                           otlp_metrics_enabled=False, alert_enabled=True,
                           alert_default_rules=False, alert_rules=[rule])  # fmt: skip
        stack = make_stack(plugin.event_bus, cfg)
        simulate(plugin, steps=5)
        stack.force_flush()
        simulate(plugin, steps=5, seed=9)
        stack.shutdown()
        records = [r for r in receiver.received.log_records() if r.event_name == sc.EVENT_ALERT]
    assert records
    real = set(attrs(records[0].attributes))
    table = TABLE.read_text(encoding="utf-8")
    documented = set(re.findall(r"`(aga\.alert\.[a-z_]+)`", table))
    assert real == documented
