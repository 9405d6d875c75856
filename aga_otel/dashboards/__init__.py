"""Grafana dashboards generated from the metric table in :mod:`aga_otel.semconv`.

Usage::

    from aga_otel.dashboards import generate_dashboard

    generate_dashboard("aga_dashboard.json")     # writes the file and returns the dict

The committed copies live in the repository's ``dashboards/`` folder; ``aga-otel
dashboards --check dashboards`` fails when they differ from what this package generates.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from aga_otel.dashboards import aga
from aga_otel.exporters.prometheus import DEFAULT_PREFIX

__all__ = ["DASHBOARDS", "generate_dashboard", "iter_annotations", "iter_queries", "render"]

# file name in dashboards/ → builder; one entry per committed dashboard.
DASHBOARDS = {"aga-otel.json": aga.build}


def render(dashboard: dict[str, Any]) -> str:
    """The canonical text of a dashboard file (stable key order, trailing newline)."""
    return json.dumps(dashboard, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def generate_dashboard(
    path: str | os.PathLike | None = None, *, prefix: str = DEFAULT_PREFIX
) -> dict[str, Any]:
    """The AGA dashboard as a dict; also written as JSON to ``path`` when given.

    ``prefix`` renames AGA's own metrics as ``prometheus_prefix`` does (``aga_*`` →
    ``{prefix}_*``); the pipeline's ``aga_otel_*`` metrics keep their names.
    """
    board = aga.build(prefix)
    if path is not None:
        Path(path).write_text(render(board), encoding="utf-8")
    return board


def iter_queries(dashboard: dict[str, Any]) -> Iterator[tuple[str, str]]:
    """``(panel title, expr)`` for every query target of every panel, nested rows included."""
    stack = list(dashboard.get("panels", []))
    while stack:
        panel = stack.pop(0)
        stack.extend(panel.get("panels", []))
        for target in panel.get("targets", []):
            if target.get("expr"):
                yield panel.get("title", ""), target["expr"]


def iter_annotations(dashboard: dict[str, Any]) -> Iterator[tuple[str, str]]:
    """``(annotation name, expr)`` for every PromQL annotation (alert markers)."""
    for item in dashboard.get("annotations", {}).get("list", []):
        if item.get("expr"):
            yield item["name"], item["expr"]
