"""Pure builders for Grafana dashboard JSON (schema of Grafana 11, ``schemaVersion`` 39).

Plain dicts rather than the grafana-foundation-sdk: the dashboard needs a handful of panel
types, and dicts keep aga-otel free of a dependency whose plain install resolves to
Grafana 10.1 types. Field names follow Grafana's dashboard JSON model
(https://grafana.com/docs/grafana/latest/dashboards/build-dashboards/view-dashboard-json-model/).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

SCHEMA_VERSION = 39
DATASOURCE_VAR = "datasource"
# Every panel and target points at the datasource variable, never at a fixed uid, so the
# dashboard works in any Grafana that has a Prometheus datasource.
DATASOURCE = {"type": "prometheus", "uid": f"${{{DATASOURCE_VAR}}}"}
GRID_WIDTH = 24


@dataclass(frozen=True)
class Query:
    """One PromQL target; ``legend`` is a Grafana legend format such as ``{{layer}}``.

    ``exemplar`` asks Grafana for the exemplars of the series the query reads and draws
    them as points that link to their trace (the datasource's exemplar destinations).
    """

    expr: str
    legend: str = "__auto"
    exemplar: bool = False


@dataclass(frozen=True)
class Step:
    """A threshold step: from ``value`` up (``None``: the base) the panel shows ``color``."""

    value: float | None
    color: str


@dataclass(frozen=True)
class ValueText:
    """A value mapping: ``value`` is shown as ``text`` in ``color``."""

    value: float
    text: str
    color: str


@dataclass(frozen=True)
class Panel:
    """What a panel shows; its position is assigned by :func:`layout`.

    ``thresholds`` colour stats and gauges and are drawn as lines on time series;
    ``mappings`` name discrete values (health states) in stats and state timelines.
    """

    title: str
    kind: str  # timeseries | stat | gauge | heatmap | bargauge | state-timeline
    queries: tuple[Query, ...]
    unit: str = "short"
    description: str = ""
    width: int = 12
    height: int = 8
    min: float | None = None
    max: float | None = None
    options: dict[str, Any] = field(default_factory=dict)
    thresholds: tuple[Step, ...] = ()
    mappings: tuple[ValueText, ...] = ()


@dataclass(frozen=True)
class Row:
    """A titled group of panels."""

    title: str
    panels: tuple[Panel, ...]


def datasource_variable() -> dict[str, Any]:
    return {
        "name": DATASOURCE_VAR,
        "label": "Data source",
        "type": "datasource",
        "query": "prometheus",
        "current": {},
        "hide": 0,
        "refresh": 1,
        "regex": "",
        "includeAll": False,
        "multi": False,
        "options": [],
    }


def label_variable(name: str, label: str, metric: str, label_name: str, matchers: str) -> dict:
    """A multi-select variable over a label's values whose "All" is the regex ``.*``.

    ``.*`` also matches an absent label, so a selector using this variable keeps every
    series whose source does not carry the label at all (a direct scrape has no
    ``service_name``; the Collector path has it).
    """
    selector = f"{metric}{{{matchers}}}" if matchers else metric
    query = f"label_values({selector}, {label_name})"
    return {
        "name": name,
        "label": label,
        "type": "query",
        "datasource": DATASOURCE,
        "query": {"query": query, "refId": f"{name}-values"},
        "definition": query,
        "current": {"selected": True, "text": ["All"], "value": ["$__all"]},
        "includeAll": True,
        "allValue": ".*",
        "multi": True,
        "hide": 0,
        "refresh": 2,  # on time range change: new instances appear without a reload
        "regex": "",
        "sort": 1,
        "options": [],
    }


def _target(index: int, query: Query, kind: str) -> dict[str, Any]:
    target = {
        "refId": chr(ord("A") + index),
        "datasource": DATASOURCE,
        "editorMode": "code",
        "expr": query.expr,
        "legendFormat": query.legend,
        "range": True,
        "instant": False,
        "exemplar": query.exemplar,
    }
    if kind == "heatmap":
        # Buckets as rows, ordered by "le": Grafana needs the heatmap format for that.
        target["format"] = "heatmap"
    return target


_DEFAULT_OPTIONS: dict[str, dict[str, Any]] = {
    "timeseries": {
        "legend": {"displayMode": "list", "placement": "bottom", "showLegend": True},
        "tooltip": {"mode": "multi", "sort": "desc"},
    },
    "stat": {
        "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
        "colorMode": "value",
        "graphMode": "area",
        "justifyMode": "auto",
        "orientation": "auto",
        "textMode": "auto",
    },
    "gauge": {
        "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
        "showThresholdLabels": False,
        "showThresholdMarkers": True,
    },
    "bargauge": {
        "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
        "displayMode": "gradient",
        "orientation": "horizontal",
        "showUnfilled": True,
    },
    "heatmap": {
        "calculate": False,  # Prometheus already bucketed the data
        "cellGap": 1,
        "color": {"mode": "scheme", "scheme": "Oranges", "scale": "exponential",
                  "exponent": 0.5, "fill": "dark", "steps": 64, "reverse": False},
        "filterValues": {"le": 1e-9},
        "legend": {"show": True},
        "rowsFrame": {"layout": "auto"},
        "tooltip": {"mode": "single", "yHistogram": False, "showColorScale": False},
        "yAxis": {"axisPlacement": "left", "reverse": False},
    },
    "state-timeline": {
        "mergeValues": True,
        "showValue": "auto",
        "alignValue": "left",
        "rowHeight": 0.9,
        "legend": {"displayMode": "list", "placement": "bottom", "showLegend": True},
        "tooltip": {"mode": "single", "sort": "none"},
    },
}  # fmt: skip


def _thresholds(steps: tuple[Step, ...]) -> dict[str, Any]:
    return {"mode": "absolute",
            "steps": [{"color": s.color, "value": s.value} for s in steps]}  # fmt: skip


def _mappings(values: tuple[ValueText, ...]) -> list[dict[str, Any]]:
    options = {
        f"{v.value:g}": {"text": v.text, "color": v.color, "index": i} for i, v in enumerate(values)
    }
    return [{"type": "value", "options": options}]


def _panel_json(panel: Panel, panel_id: int, x: int, y: int) -> dict[str, Any]:
    defaults: dict[str, Any] = {"unit": panel.unit}
    if panel.min is not None:
        defaults["min"] = panel.min
    if panel.max is not None:
        defaults["max"] = panel.max
    if panel.kind == "timeseries":
        defaults["custom"] = {"drawStyle": "line", "lineWidth": 1, "fillOpacity": 10,
                              "showPoints": "never", "spanNulls": True}  # fmt: skip
        if panel.thresholds:  # the alert thresholds as lines across the graph
            defaults["custom"]["thresholdsStyle"] = {"mode": "line+area"}
    if panel.kind == "state-timeline":
        defaults["custom"] = {"fillOpacity": 80, "lineWidth": 0}
    if panel.thresholds:
        defaults["thresholds"] = _thresholds(panel.thresholds)
        if panel.kind != "timeseries":
            defaults["color"] = {"mode": "thresholds"}
    if panel.mappings:
        defaults["mappings"] = _mappings(panel.mappings)
        defaults["color"] = {"mode": "thresholds"}
    options = {**_DEFAULT_OPTIONS[panel.kind], **panel.options}
    if panel.kind == "heatmap":
        # The heatmap reads its y unit from options, not from the field config.
        options["yAxis"] = {**options["yAxis"], "unit": panel.unit}
    return {
        "id": panel_id,
        "type": panel.kind,
        "title": panel.title,
        "description": panel.description,
        "datasource": DATASOURCE,
        "gridPos": {"h": panel.height, "w": panel.width, "x": x, "y": y},
        "fieldConfig": {"defaults": defaults, "overrides": []},
        "options": options,
        "targets": [_target(i, q, panel.kind) for i, q in enumerate(panel.queries)],
    }


def layout(rows: tuple[Row, ...]) -> list[dict[str, Any]]:
    """Flatten rows into Grafana's panel list: a row header, then its panels left to right,
    wrapping at the 24-column grid; ids are assigned in order so output is deterministic."""
    out: list[dict[str, Any]] = []
    next_id, y = 1, 0
    for row in rows:
        out.append({"id": next_id, "type": "row", "title": row.title, "collapsed": False,
                    "gridPos": {"h": 1, "w": GRID_WIDTH, "x": 0, "y": y}, "panels": []})  # fmt: skip
        next_id, y = next_id + 1, y + 1
        x, line_height = 0, 0
        for panel in row.panels:
            if x + panel.width > GRID_WIDTH:
                x, y, line_height = 0, y + line_height, 0
            out.append(_panel_json(panel, next_id, x, y))
            next_id += 1
            x += panel.width
            line_height = max(line_height, panel.height)
        y += line_height
    return out


def annotation(name: str, expr: str, color: str, title: str, text: str) -> dict[str, Any]:
    """A Prometheus annotation: a marker on every panel while ``expr`` returns a series."""
    return {
        "name": name,
        "datasource": DATASOURCE,
        "enable": True,
        "hide": False,
        "iconColor": color,
        "expr": expr,
        "step": "$__interval",
        "titleFormat": title,
        "textFormat": text,
        "useValueForTime": False,
    }


# Grafana's own annotations (its alerts, annotations added by hand), as a new dashboard has.
BUILT_IN_ANNOTATION = {
    "builtIn": 1,
    "datasource": {"type": "grafana", "uid": "-- Grafana --"},
    "enable": True,
    "hide": True,
    "iconColor": "rgba(0, 211, 255, 1)",
    "name": "Annotations & Alerts",
    "type": "dashboard",
}


def link(title: str, url: str, tooltip: str, icon: str = "external link") -> dict[str, Any]:
    """A dashboard link (top bar); keeps the time range and variables where they apply."""
    return {"title": title, "type": "link", "url": url, "tooltip": tooltip, "icon": icon,
            "targetBlank": False, "keepTime": True, "includeVars": False,
            "asDropdown": False, "tags": []}  # fmt: skip


def dashboard(
    uid: str,
    title: str,
    rows: tuple[Row, ...],
    variables: list[dict],
    tags: list[str],
    annotations: list[dict] | None = None,
    links: list[dict] | None = None,
) -> dict[str, Any]:
    """The complete dashboard document, ready for provisioning or import."""
    return {
        "uid": uid,
        "title": title,
        "tags": tags,
        "timezone": "browser",
        "editable": True,
        "graphTooltip": 1,  # shared crosshair across panels
        "schemaVersion": SCHEMA_VERSION,
        "version": 1,
        "refresh": "10s",
        "time": {"from": "now-15m", "to": "now"},
        "timepicker": {},
        "annotations": {"list": [BUILT_IN_ANNOTATION, *(annotations or [])]},
        "links": list(links or []),
        "templating": {"list": variables},
        "panels": layout(rows),
    }
