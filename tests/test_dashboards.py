"""The generated Grafana dashboard: committed copy, structure, filters, units, names."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

from aga_otel import semconv
from aga_otel.alerts import DEFAULT_RULES
from aga_otel.config import AlertRuleConfig
from aga_otel.dashboards import (
    DASHBOARDS,
    generate_dashboard,
    iter_annotations,
    iter_queries,
    render,
)
from aga_otel.dashboards.aga import (
    ALERTMANAGER_UID,
    FILTER,
    FILTERS,
    JAEGER_UID,
    MODEL_MATCHER,
    Names,
    slo_steps,
)
from aga_otel.dashboards.cli import run
from aga_otel.dashboards.promql import expand, family, metric_names

ROOT = Path(__file__).resolve().parents[1]
COMMITTED = ROOT / "dashboards"
ALLOWED_UNITS = {"s", "percentunit", "short", "ops"}
GROUPS = ["Overview", "Forward performance", "Gate and entropy", "Retrieval", "Audit",
          "Telemetry pipeline", "Knowledge"]  # fmt: skip


@pytest.fixture(scope="module")
def board() -> dict:
    return generate_dashboard()


def panels(board: dict) -> list[dict]:
    return [p for p in board["panels"] if p["type"] != "row"]


@pytest.mark.parametrize("name", sorted(DASHBOARDS))
def test_committed_json_equals_generator_output(name):
    committed = (COMMITTED / name).read_text(encoding="utf-8")
    assert committed == render(DASHBOARDS[name]()), "run: aga-otel dashboards --write dashboards"


def test_generate_dashboard_writes_the_same_json(tmp_path, board):
    out = tmp_path / "aga.json"
    returned = generate_dashboard(out)
    assert returned == board
    assert json.loads(out.read_text()) == json.loads((COMMITTED / "aga-otel.json").read_text())


def test_cli_check_detects_stale_and_write_fixes(tmp_path, capsys):
    class Args:
        write = None
        check = str(tmp_path)

    assert run(Args()) == 1  # nothing written yet
    Args.write, Args.check = str(tmp_path), None
    assert run(Args()) == 0
    Args.write, Args.check = None, str(tmp_path)
    assert run(Args()) == 0
    (tmp_path / "aga-otel.json").write_text("{}\n")
    assert run(Args()) == 1
    assert "out of date" in capsys.readouterr().out


def test_rows_in_order_and_layout_fits_the_grid(board):
    rows = [p["title"] for p in board["panels"] if p["type"] == "row"]
    assert rows == GROUPS
    ids = [p["id"] for p in board["panels"]]
    assert len(ids) == len(set(ids))
    for p in board["panels"]:
        g = p["gridPos"]
        assert g["x"] + g["w"] <= 24, p["title"]


def test_datasource_variable_used_everywhere(board):
    variables = {v["name"]: v for v in board["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    for p in panels(board):
        assert p["datasource"]["uid"] == "${datasource}", p["title"]
        for t in p["targets"]:
            assert t["datasource"]["uid"] == "${datasource}", p["title"]


def test_filter_variables_default_to_match_all(board):
    variables = {v["name"]: v for v in board["templating"]["list"]}
    for name, _, label in FILTERS:
        var = variables[name]
        assert var["includeAll"] and var["allValue"] == ".*", name
        assert var["current"]["value"] == ["$__all"], name
        assert f", {label})" in var["query"]["query"], name
    # labels both layouts have: Prometheus's target labels on a direct scrape, and the
    # Collector's exporter sets them from service.name / service.instance.id
    assert {label for _, _, label in FILTERS} == {"job", "instance"}


def test_model_variable_reads_both_model_series(board):
    variables = [v["name"] for v in board["templating"]["list"]]
    assert variables == ["datasource", "job", "instance", "model"]  # model: the last filter
    var = board["templating"]["list"][-1]
    assert var["includeAll"] and var["allValue"] == ".*" and var["current"]["value"] == ["$__all"]
    assert var["query"]["query"] == (
        f'label_values({{__name__=~"{semconv.prom("model_info")}|{semconv.PROM_TARGET_INFO}", '
        f"{FILTER}}}, {semconv.ATTR_MODEL})"
    )


def test_every_aga_query_is_joined_to_the_model(board):
    """Every query and annotation over aga-otel's series keeps only the selected models'
    instances; those over Prometheus's own series (``up``, ``ALERTS``) are not joined."""
    join = Names().of_model
    assert join.startswith("and on(job, instance) (") and MODEL_MATCHER in join
    own = {semconv.PROM_UP, semconv.PROM_ALERTS}
    for title, expr in [*iter_queries(board), *iter_annotations(board)]:
        if metric_names(expr) & own:
            assert join not in expr, title
        else:
            # once per selector of an AGA metric (a ratio joins both sides)
            selectors = re.findall(r"aga_\w+\{", expr.replace(join, ""))
            assert expr.count(join) == len(selectors) > 0, title


def test_every_selector_carries_every_filter(board):
    for title, expr in [*iter_queries(board), *iter_annotations(board)]:
        selectors = re.findall(r"[A-Za-z_:]+\{[^}]*\}", expr)
        assert selectors, title
        for selector in selectors:
            assert FILTER in selector, f"{title}: {selector}"


def test_every_panel_has_a_unit(board):
    for p in panels(board):
        defaults = p["fieldConfig"]["defaults"]
        assert defaults.get("unit") in ALLOWED_UNITS, p["title"]
        if p["type"] == "heatmap":
            assert p["options"]["calculate"] is False
            assert all(t["format"] == "heatmap" for t in p["targets"])


def test_latency_panels_show_exemplars(board):
    """Exemplars on the targets reading the forward-duration buckets (the one histogram
    whose measurements carry the emitter's span), and on no other target."""
    buckets = f"{semconv.prom('forward_duration')}_bucket"
    with_exemplars = set()
    for p in panels(board):
        for t in p["targets"]:
            assert t["exemplar"] is (buckets in metric_names(t["expr"])), p["title"]
            if t["exemplar"]:
                assert p["type"] == "timeseries", p["title"]
                with_exemplars.add(p["title"])
    assert with_exemplars == {"Forward duration p50 / p95 / p99", "Forward duration p95 by layer"}


def test_units_match_the_metric(board):
    by_title = {p["title"]: p for p in panels(board)}
    assert by_title["Activation rate"]["fieldConfig"]["defaults"]["unit"] == "percentunit"
    assert by_title["Knowledge utilisation"]["fieldConfig"]["defaults"]["unit"] == "percentunit"
    assert by_title["Forward duration p50 / p95 / p99"]["fieldConfig"]["defaults"]["unit"] == "s"
    assert by_title["Knowledge items"]["fieldConfig"]["defaults"]["unit"] == "short"


def test_queries_only_name_metrics_of_the_table(board):
    families = {m.prometheus_name for m in semconv.METRICS}
    families |= {semconv.PROM_UP, semconv.PROM_ALERTS}  # written by Prometheus itself
    families.add(semconv.PROM_TARGET_INFO)  # the resource, for the model join
    used = set()
    for title, expr in [*iter_queries(board), *iter_annotations(board)]:
        for name in metric_names(expr):
            fam = family(name, families)
            assert fam, f"{title}: {name} is not in aga_otel.semconv.METRICS"
            used.add(fam)
    # every metric of the table is on the dashboard, except build info (labels only)
    assert families - used == {semconv.prom("build_info")}


def test_required_panels_present(board):
    text = json.dumps([p["targets"] for p in panels(board)])
    for q in ("0.5", "0.95", "0.99"):
        assert f"histogram_quantile({q}, " in text
    kinds = {p["title"]: p["type"] for p in panels(board)}
    assert kinds["Gate value distribution"] == "heatmap"
    assert kinds["Entropy distribution"] == "heatmap"
    assert kinds["Retrieval score distribution"] == "heatmap"


@pytest.mark.parametrize(
    ("expr", "names"),
    [
        ('sum by (le) (rate(a_bucket{x=~"$job"}[$__rate_interval]))', {"a_bucket"}),
        ("(max by (s) (avg_over_time(b[60s]))) > 0.95", {"b"}),
        ("c_total / ignoring(le) d offset 5m and on(job) up == bool 1", {"c_total", "d", "up"}),
        ('x{le=~"5e-06|0\\\\.000005"} * 1000000', {"x"}),
    ],
)
def test_metric_names_parser(expr, names):
    assert metric_names(expr) == names


def test_expand_replaces_grafana_variables():
    expr = 'rate(a{job=~"$job", i=~"${instance}"}[$__rate_interval])'
    assert expand(expr, {"__rate_interval": "10s"}) == 'rate(a{job=~".*", i=~".*"}[10s])'


def _by_title(board: dict) -> dict[str, dict]:
    return {p["title"]: p for p in panels(board)}


def _steps(panel: dict) -> list[tuple[float | None, str]]:
    steps = panel["fieldConfig"]["defaults"]["thresholds"]["steps"]
    return [(s["value"], s["color"]) for s in steps]


def test_thresholds_are_the_alert_rules_thresholds(board):
    rules = {r.name: r for r in DEFAULT_RULES}
    p = _by_title(board)
    assert _steps(p["Knowledge utilisation"]) == [
        (None, "green"), (rules["high_utilization"].threshold, "red")]  # fmt: skip
    # The latency rules are in µs (aga-observability 1.0's unit), the panel in seconds.
    assert _steps(p["Forward duration p50 / p95 / p99"]) == [
        (None, "green"), (rules["slo_latency_p99"].threshold / 1e6, "orange"),
        (rules["slo_latency_critical"].threshold / 1e6, "red")]  # fmt: skip
    assert _steps(p["Slot change rate"]) == [
        (None, "green"), (rules["slot_thrashing"].threshold, "red")]  # fmt: skip
    latency = p["Forward duration p50 / p95 / p99"]["fieldConfig"]["defaults"]
    assert latency["custom"]["thresholdsStyle"]["mode"] == "line+area"  # drawn on the graph
    assert p["Knowledge utilisation"]["fieldConfig"]["defaults"]["color"]["mode"] == "thresholds"


def test_thresholds_follow_the_rule_table():
    rules = (AlertRuleConfig(name="a", metric="latency_p99", threshold=250_000,  # µs (1.0)
                             severity="critical"),
             AlertRuleConfig(name="b", metric="latency_p99_seconds", operator="<", threshold=0.1),
             AlertRuleConfig(name="c", metric="gate_mean", threshold=0.9),
             AlertRuleConfig(name="d", metric="latency_p99_seconds", threshold=0.05))  # fmt: skip
    assert [(s.value, s.color) for s in slo_steps("latency_p99_seconds", rules)] == [
        (None, "green"), (0.05, "orange"), (0.25, "red")]  # fmt: skip
    assert [(s.value, s.color) for s in slo_steps("entropy_mean", rules)] == [(None, "green")]


def _mapping(panel: dict) -> dict[str, str]:
    (mapping,) = panel["fieldConfig"]["defaults"]["mappings"]
    return {value: o["text"] for value, o in mapping["options"].items()}


def test_health_and_targets_are_named_states(board):
    p = _by_title(board)
    assert p["Component health"]["type"] == "state-timeline"
    assert _mapping(p["Component health"]) == {"0": "unhealthy", "1": "degraded", "2": "healthy"}
    assert p["Scrape targets"]["type"] == "state-timeline"
    assert _mapping(p["Scrape targets"]) == {"0": "down", "1": "up"}
    assert f"{semconv.PROM_UP}{{" in p["Scrape targets"]["targets"][0]["expr"]
    assert _mapping(p["Alert rules"]) == {"0": "ok", "1": "firing"}


def test_alert_annotations_and_links(board):
    names = dict(iter_annotations(board))
    assert names["Prometheus alerts"].startswith(f'{semconv.PROM_ALERTS}{{alertstate="firing"')
    assert semconv.prom("alerts_firing") in names["aga-otel alerts"]
    assert board["annotations"]["list"][0]["builtIn"] == 1
    links = {link["title"]: link["url"] for link in board["links"]}
    assert links["Alertmanager"].endswith(f"alertmanager={ALERTMANAGER_UID}")
    assert JAEGER_UID in links["Traces"]
    provisioned = yaml.safe_load(
        (ROOT / "collector/grafana/provisioning/datasources/datasources.yml").read_text()
    )
    kinds = {d["uid"]: d["type"] for d in provisioned["datasources"]}
    assert kinds[ALERTMANAGER_UID] == "alertmanager" and kinds[JAEGER_UID] == "jaeger"


def test_prefix_renames_aga_metrics_only(board):
    renamed = generate_dashboard(prefix="vllm_aga")
    assert renamed["uid"] == board["uid"]
    for title, expr in [*iter_queries(renamed), *iter_annotations(renamed)]:
        for name in metric_names(expr):
            assert not (name.startswith("aga_") and not name.startswith("aga_otel_")), title
    text = json.dumps(renamed)
    assert "vllm_aga_forward_duration_seconds_bucket" in text
    assert "aga_otel_events_received_total" in text  # variables read the pipeline counter
    assert generate_dashboard(prefix="aga") == board
