"""Every dashboard query and every rule, proven against a real Prometheus scraping real
``aga-otel demo`` processes in both label layouts (a direct scrape, and the labels the
bundled Collector writes); plus ``promtool check config`` on the bundled config.

Fails instead of skipping when CI=true and the Prometheus binaries are missing.
"""

from __future__ import annotations

import re
import subprocess
import time
from pathlib import Path

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families
from test_prometheus_server_support import (
    PROMETHEUS,
    PROMTOOL,
    Prometheus,
    require_binary,
    start_demo,
    stop,
    wait_for,
)

from aga_otel import semconv
from aga_otel.contract import WorkloadProfile
from aga_otel.dashboards import generate_dashboard, iter_annotations, iter_queries
from aga_otel.dashboards.aga import FILTERS
from aga_otel.dashboards.promql import expand, metric_names

ROOT = Path(__file__).resolve().parents[1]
COLLECTOR = ROOT / "collector"
RULES_DIR = COLLECTOR / "prometheus" / "rules"
RULE_FILES = sorted(RULES_DIR.glob("*.yml"))
# What Grafana would substitute for a 1 s scrape interval and a short time range.
GRAFANA_VARS = {"__rate_interval": "10s", "__range": "1m", "__interval": "2s"}
PLUGIN_MODEL = WorkloadProfile().model_name  # every demo's model_type: aga_model_info{model}
RESOURCE_MODEL = "resource-model"  # demo 2's ``model`` resource attribute: target_info{model}
WARMUP_S = 12  # seconds of scrapes before querying: several samples in every rate window


def _rules() -> list[dict]:
    rules = []
    for path in RULE_FILES:
        for group in (yaml.safe_load(path.read_text()) or {}).get("groups", []):
            for rule in group.get("rules", []):
                rules.append({**rule, "file": path.name})
    return rules


RULES = _rules()
DASHBOARD_QUERIES = sorted(set(iter_queries(generate_dashboard())))
LAYOUTS = ("direct", "collector")


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    """Two demos scraped every second by one Prometheus that loads the bundled rules.

    Demo 2 is scraped a second time with the labels series get through the bundled
    Collector: ``job`` = ``service.name`` and ``instance`` = ``service.instance.id`` (the
    prometheus exporter's, kept by ``honor_labels``) and the promoted ``service_name`` and
    ``model`` (demo 2 has a ``model`` resource attribute; demo 1 has none).
    """
    require_binary(PROMETHEUS)
    work = tmp_path_factory.mktemp("prometheus")
    demos = [
        start_demo(1, work / "demo1.log"),
        start_demo(2, work / "demo2.log", f"{semconv.RESOURCE_MODEL}={RESOURCE_MODEL}"),
    ]
    resource = _target_info(demos[1].scrape())
    assert resource[semconv.RESOURCE_MODEL] == RESOURCE_MODEL
    via_collector = {
        "job_name": "via-collector",
        "static_configs": [{"targets": [demos[1].target]}],
        "relabel_configs": [
            {"target_label": "job", "replacement": resource["service_name"]},
            {"target_label": "instance", "replacement": resource["service_instance_id"]},
            {"target_label": "service_name", "replacement": resource["service_name"]},
            {"target_label": "model", "replacement": RESOURCE_MODEL},  # transform/promote
        ],
    }
    config = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(RULES_DIR / "*.yml")],
        "scrape_configs": [
            {"job_name": "aga-demo", "static_configs": [{"targets": [d.target for d in demos]}]},
            via_collector,
        ],
    }
    prom = None
    try:
        prom = Prometheus(work, config)
        wait_for(lambda: len(prom.query("up == 1")) == 3, 15, "all three targets up")
        time.sleep(WARMUP_S)
        yield prom, demos, resource
    finally:
        if prom is not None:
            prom.close()
        for demo in demos:
            stop(demo.proc)


def _target_info(text: str) -> dict[str, str]:
    for fam in text_string_to_metric_families(text):
        if fam.name in ("target", "target_info"):  # info type or gauge
            return dict(fam.samples[0].labels)
    raise AssertionError("no target_info in the demo's scrape")


def _regex(value: str) -> str:
    """``value`` as an exact-match regex inside a PromQL string literal (whose backslashes
    are escaped once more)."""
    return re.escape(value).replace("\\", "\\\\")


def _signal(expr: str) -> str:
    """An alert's expression without its final threshold comparison, e.g.
    ``(histogram_quantile(...)) > 0.001`` → ``(histogram_quantile(...))``, or for an
    ``a unless b`` alert its ``a``: the signal must have data even while the alert (rightly)
    does not fire."""
    expr = expr.split(" unless ", 1)[0]
    m = re.fullmatch(r"\s*(.*?)\s*(?:>|<|>=|<=|==|!=)\s*[-+0-9.eE]+\s*", expr, re.S)
    return m.group(1) if m else expr


def _only(layout: str, stack) -> dict[str, str]:
    """Grafana variables selecting one demo and its model in one label layout: directly,
    demo 1 by its plugin's model (aga_model_info); through the Collector, demo 2 by its
    resource's (target_info, and the promoted label)."""
    _, demos, resource = stack
    if layout == "direct":
        return {**GRAFANA_VARS, "instance": _regex(demos[0].target), "model": PLUGIN_MODEL}
    instance = _regex(resource["service_instance_id"])
    return {**GRAFANA_VARS, "instance": instance, "model": _regex(RESOURCE_MODEL)}


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize(
    ("title", "expr"), DASHBOARD_QUERIES, ids=[t for t, _ in DASHBOARD_QUERIES]
)
def test_dashboard_query_returns_data(stack, title, expr, layout):
    prom = stack[0]
    assert prom.query(expand(expr, GRAFANA_VARS)), f"panel {title!r}: no data (All)"
    query = expand(expr, _only(layout, stack))
    assert prom.query(query), f"panel {title!r}: no data in the {layout} layout: {query}"


def test_annotation_queries_are_valid_promql(stack):
    """Alert annotations: accepted by Prometheus (data only while alerts fire)."""
    prom = stack[0]
    names = []
    for name, expr in iter_annotations(generate_dashboard()):
        prom.query(expand(expr, GRAFANA_VARS))  # raises on a PromQL error
        names.append(name)
    assert names == ["Prometheus alerts", "aga-otel alerts"]


def _by_instance_panel() -> str:
    return next(e for t, e in DASHBOARD_QUERIES if t.startswith("Forward rate by instance"))


def test_instance_filter_selects_one_demo(stack):
    """Direct scrape: the ``instance`` filter (a Prometheus target label)."""
    prom, demos, _ = stack
    wanted = demos[0].target
    result = prom.query(expand(_by_instance_panel(), {**GRAFANA_VARS, "instance": _regex(wanted)}))
    assert result and {r["metric"]["instance"] for r in result} == {wanted}


def test_instance_filter_selects_the_collector_series(stack):
    """Collector path: the same ``instance`` filter, whose value is service.instance.id."""
    prom, _, resource = stack
    values = {**GRAFANA_VARS, "instance": _regex(resource["service_instance_id"])}
    result = prom.query(expand(_by_instance_panel(), values))
    assert result and {r["metric"]["instance"] for r in result} == {resource["service_instance_id"]}


# The panels that matter most, for the model filter's own tests.
KEY_PANELS = ("Forward duration p50 / p95 / p99", "Activation rate", "Knowledge items",
              "Events received and dropped", "Component health")  # fmt: skip


@pytest.mark.parametrize("title", KEY_PANELS)
def test_model_filter_on_key_panels(stack, title):
    """Data with either model selected, none with a model no instance has."""
    prom = stack[0]
    exprs = [e for t, e in DASHBOARD_QUERIES if t == title]
    assert exprs, title
    for expr in exprs:
        for model, has_data in ((PLUGIN_MODEL, True), (RESOURCE_MODEL, True), ("none", False)):
            result = prom.query(expand(expr, {**GRAFANA_VARS, "model": _regex(model)}))
            assert bool(result) is has_data, f"panel {title!r} with model {model!r}: {expr}"


def test_model_filter_selects_the_instances_of_that_model(stack):
    """Directly scraped, demo 2 has the resource's model (its target_info) and both demos the
    plugin's (aga_model_info); through the Collector the promoted resource model wins."""
    prom, demos, resource = stack

    def instances(model_regex: str) -> set[str]:
        query = expand(_by_instance_panel(), {**GRAFANA_VARS, "model": model_regex})
        return {r["metric"]["instance"] for r in prom.query(query)}

    via_collector = resource["service_instance_id"]
    assert instances(_regex(RESOURCE_MODEL)) == {demos[1].target, via_collector}
    assert instances(_regex(PLUGIN_MODEL)) == {d.target for d in demos}
    assert instances(".*") == {d.target for d in demos} | {via_collector}  # "All"
    # "All" keeps an instance that names no model at all: demo 1's target_info has no
    # ``model`` label, and ``.*`` matches the absent label (so does the dashboard's join).
    (info,) = prom.query(f'{semconv.PROM_TARGET_INFO}{{instance="{demos[0].target}", model=~".*"}}')
    assert semconv.RESOURCE_MODEL not in info["metric"]


def test_filter_variables_list_values(stack):
    """Each filter variable lists the values of its label in both layouts."""
    prom, demos, resource = stack
    board = generate_dashboard()
    found = {}
    for var in board["templating"]["list"]:
        if var["type"] != "query":
            continue
        m = re.fullmatch(r"label_values\((.*), (\w+)\)", var["query"]["query"])
        assert m, var["query"]
        found[var["name"]] = set(prom.api(f"label/{m[2]}/values", **{"match[]": expand(m[1])}))
    assert set(found) == {name for name, _, _ in FILTERS} | {"model"}
    assert found["job"] == {"aga-demo"}  # the scrape job here; service.name via the Collector
    assert found["instance"] == {d.target for d in demos} | {resource["service_instance_id"]}
    assert found["model"] == {PLUGIN_MODEL, RESOURCE_MODEL}  # from both model series


@pytest.mark.skipif(not RULES, reason="no rule files in collector/prometheus/rules yet")
def test_rules_loaded_and_healthy(stack):
    prom = stack[0]
    deadline = time.monotonic() + 10
    while True:
        loaded = [r for g in prom.api("rules")["groups"] for r in g["rules"]]
        bad = [f"{r['name']}: {r.get('lastError')}" for r in loaded if r["health"] != "ok"]
        if len(loaded) == len(RULES) and not bad or time.monotonic() > deadline:
            break
        time.sleep(1)
    assert len(loaded) == len(RULES), f"Prometheus loaded {len(loaded)} of {len(RULES)} rules"
    assert not bad, "rules failing evaluation:\n" + "\n".join(bad)


@pytest.mark.parametrize(
    "rule", RULES, ids=[f"{r['file']}:{r.get('alert') or r.get('record')}" for r in RULES]
)
def test_rule_expression_returns_data(stack, rule):
    prom = stack[0]
    expr = _signal(rule["expr"]) if "alert" in rule else rule["expr"]
    assert prom.query(expr), f"{rule['file']}: no data for {expr}"


def test_every_referenced_name_is_in_a_real_scrape(stack):
    """Names in dashboards and rules (minus those the rules record) vs a real /metrics."""
    demos = stack[1]
    scraped = {
        s.name
        for demo in demos
        for fam in text_string_to_metric_families(demo.scrape())
        for s in fam.samples
    }
    recorded = {r["record"] for r in RULES if "record" in r}
    recorded |= {semconv.PROM_UP, semconv.PROM_ALERTS}  # Prometheus's own series
    wanted: dict[str, set[str]] = {}
    for title, expr in DASHBOARD_QUERIES:
        for name in metric_names(expr):
            wanted.setdefault(name, set()).add(f"dashboard panel {title!r}")
    for rule in RULES:
        for name in metric_names(rule["expr"]) - recorded:
            wanted.setdefault(name, set()).add(
                f"{rule['file']}:{rule.get('alert') or rule.get('record')}"
            )
    missing = {name: where for name, where in wanted.items() if name not in scraped | recorded}
    report = "\n".join(
        f"  {n}  (used by {', '.join(sorted(w))})" for n, w in sorted(missing.items())
    )
    assert not missing, f"{len(missing)} name(s) not in a real scrape of aga-otel demo:\n{report}"


def test_promtool_check_config_sees_every_rule_file():
    """``promtool check config`` on the bundled prometheus.yml as it is: its rule_files are
    relative to it, so the rule files the container loads are the ones checked here."""
    require_binary(PROMTOOL)
    config = COLLECTOR / "prometheus" / "prometheus.yml"
    run = subprocess.run([PROMTOOL, "check", "config", str(config)], capture_output=True,
                         text=True, timeout=60)  # fmt: skip
    assert run.returncode == 0, run.stdout + run.stderr
    assert RULE_FILES and f"{len(RULE_FILES)} rule files found" in run.stdout, run.stdout
    for path in RULE_FILES:
        assert f"Checking {path.relative_to(ROOT)}" in run.stdout or str(path) in run.stdout
