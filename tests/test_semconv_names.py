"""Span and log attribute names and the context-capture attribute live in semconv; the old
import paths re-export them, and context capture does not depend on the log records."""

from __future__ import annotations

import ast
from pathlib import Path

import aga_otel
from aga_otel import semconv
from aga_otel.logs import records
from aga_otel.tracing import capture, spans

PACKAGE = Path(aga_otel.__file__).parent


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    return {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}


def test_record_and_span_names_come_from_semconv():
    names = [n for n in vars(semconv) if n.startswith("A_")]
    assert len(names) == 18
    for name in names:
        assert getattr(records, name) is getattr(semconv, name)  # old imports keep working
    assert records.SPAN_CONTEXT_ATTR == capture.SPAN_CONTEXT_ATTR == semconv.SPAN_CONTEXT_ATTR
    assert (spans.FORWARD_SPAN, spans.AUDIT_SPAN_PREFIX) == (
        semconv.FORWARD_SPAN,
        semconv.AUDIT_SPAN_PREFIX,
    )
    assert records.AUDIT_EVENT_NAME == "aga.audit"


def test_no_module_outside_semconv_spells_an_attribute_name():
    spelled = {getattr(semconv, n) for n in vars(semconv) if n.startswith("A_")}
    spelled.add(semconv.SPAN_CONTEXT_ATTR)
    for path in PACKAGE.rglob("*.py"):
        if path.name == "semconv.py":
            continue
        strings = {
            n.value
            for n in ast.walk(ast.parse(path.read_text()))
            if isinstance(n, ast.Constant) and isinstance(n.value, str)
        }
        assert not strings & spelled, (path, strings & spelled)


def test_context_capture_belongs_to_the_bridge_not_the_log_records():
    for module in ("tracing/capture.py", "tracing/spans.py", "tracing/pipeline.py"):
        assert not {m for m in imported_modules(PACKAGE / module) if m.startswith("aga_otel.logs")}
