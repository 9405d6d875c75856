"""aga-observability 1.0's ``GrafanaDashboardGenerator``: aga-otel's dashboard, 1.0's wrapper.

The dashboard is aga-otel's own (``aga_otel.dashboards``); this face puts it in Grafana's
import wrapper ``{"dashboard": ..., "overwrite": true}`` and applies 1.0's options: a
``prefix`` other than ``aga`` renames the AGA metrics in every query exactly as the
Prometheus endpoint renames them (``aga_otel.exporters.prometheus.prefixed``), the
data source variable defaults to ``datasource``, and ``title``/``refresh`` are set.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

__all__ = ["GrafanaDashboardGenerator"]

# A metric name in PromQL or a label_values() query: aga_..., not preceded by a name char.
_METRIC = re.compile(r"(?<![A-Za-z0-9_:])aga_[A-Za-z0-9_:]*")
_QUERY_KEYS = ("expr", "query", "definition")


class GrafanaDashboardGenerator:
    def __init__(
        self,
        prefix: str = "aga",
        datasource: str = "Prometheus",
        title: str = "AGA Observability Dashboard",
        refresh: str = "5s",
    ) -> None:
        self.prefix = prefix
        self.datasource = datasource
        self.title = title
        self.refresh = refresh

    def to_dict(self) -> dict[str, Any]:
        """``{"dashboard": {...}, "overwrite": True}`` (Grafana's import API body)."""
        from aga_otel.dashboards import generate_dashboard

        board = generate_dashboard()
        board["title"], board["refresh"] = self.title, self.refresh
        for var in board.get("templating", {}).get("list", []):
            if var.get("type") == "datasource":
                var["current"] = {"text": self.datasource, "value": self.datasource}
        return {"dashboard": _renamed(board, self.prefix), "overwrite": True}

    def generate(self) -> str:
        return json.dumps(self.to_dict(), indent=2)

    def save(self, path: str | os.PathLike) -> None:
        Path(path).write_text(self.generate(), encoding="utf-8")


def _renamed(node: Any, prefix: str) -> Any:
    """``node`` with every query's AGA metric names given ``prefix``."""
    if prefix == "aga":
        return node
    from aga_otel.exporters.prometheus import prefixed

    if isinstance(node, list):
        return [_renamed(v, prefix) for v in node]
    if isinstance(node, dict):
        out = {}
        for k, v in node.items():
            if k in _QUERY_KEYS and isinstance(v, str):
                v = _METRIC.sub(lambda m: prefixed(m.group(0), prefix), v)
            out[k] = _renamed(v, prefix)
        return out
    return node
