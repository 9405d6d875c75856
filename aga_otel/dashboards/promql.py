"""Small PromQL text helpers: which metric names an expression reads, and how to turn a
Grafana query into plain PromQL. Used by the tests that prove every query against a real
Prometheus, and by anyone checking rules against a scrape.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'')
_BRACES = re.compile(r"\{[^{}]*\}")
_RANGE = re.compile(r"\[[^\[\]]*\]")
# Label lists after these words are label names, not metrics.
_LABEL_LIST = re.compile(
    r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^()]*\)", re.IGNORECASE
)
_IDENT = re.compile(r"(?<![\w.:])([a-zA-Z_:][a-zA-Z0-9_:]*)(?![\w:])(?!\s*\()")
_KEYWORDS = frozenset(
    {"by", "without", "on", "ignoring", "group_left", "group_right", "bool", "and", "or",
     "unless", "offset", "inf", "nan", "atan2"}
)  # fmt: skip
_HISTOGRAM_SUFFIXES = ("_bucket", "_count", "_sum")
_GRAFANA_VAR = re.compile(r"\$\{?(\w+)(?::\w+)?\}?")


def metric_names(expr: str) -> set[str]:
    """Metric names an expression selects (``__name__`` matchers are not resolved)."""
    text = _STRING.sub('""', expr)
    text = _BRACES.sub(" ", text)
    text = _RANGE.sub(" ", text)
    text = _LABEL_LIST.sub(" ", text)
    names = set()
    for match in _IDENT.finditer(text):
        name = match.group(1)
        if name.lower() in _KEYWORDS or re.fullmatch(r"\d+[smhdwy]", name):
            continue
        names.add(name)
    return names


def family(name: str, families: Iterable[str]) -> str | None:
    """The metric family a series name belongs to (``x_bucket`` → ``x`` if ``x`` is one)."""
    known = set(families)
    if name in known:
        return name
    for suffix in _HISTOGRAM_SUFFIXES:
        if name.endswith(suffix) and name[: -len(suffix)] in known:
            return name[: -len(suffix)]
    return None


def expand(expr: str, values: Mapping[str, str] | None = None, default: str = ".*") -> str:
    """Plain PromQL from a Grafana query: built-in interval variables from ``values``
    (``__rate_interval``, ``__range``, ``__interval``), every other variable → ``default``
    (the "All" value of the dashboard's regex filters)."""
    values = dict(values or {})

    def sub(match: re.Match[str]) -> str:
        return values.get(match.group(1), default)

    return _GRAFANA_VAR.sub(sub, expr)
