"""The README matches the code: metric table, configuration table, architecture tree."""

import dataclasses
import re
from pathlib import Path

from aga_otel import semconv as sc
from aga_otel.config import ObservabilityConfig

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()


def test_metric_table_rows_equal_the_code_table():
    rows = [line for line in README.splitlines() if line.startswith("| `aga")]
    table = {}
    for line in rows:
        cells = [c.strip() for c in line.strip("|").split("|")]
        if len(cells) == 6:
            table[cells[0].strip("`")] = cells
    assert set(table) == {m.prometheus_name for m in sc.METRICS}
    for m in sc.METRICS:
        name, kind, unit, attrs, otel, legacy = table[m.prometheus_name]
        assert kind == m.kind.value
        assert unit == (m.unit or "—")
        assert attrs == (", ".join(m.attributes) or "—")
        assert otel == f"`{m.name}`"
        assert legacy == (f"`{m.legacy}`" if m.legacy else "—")


def test_configuration_table_covers_every_field():
    documented = set(re.findall(r"^\| ((?:`\w+`(?:, )?)+) \|", README, flags=re.M))
    names = {n for cell in documented for n in re.findall(r"`(\w+)`", cell)}
    fields = {f.name for f in dataclasses.fields(ObservabilityConfig)}
    assert fields <= names, sorted(fields - names)


def test_architecture_tree_names_existing_paths():
    tree = README.split("```\naga_otel/\n", 1)[1].split("```", 1)[0]
    checked = 0
    for line in tree.splitlines():
        first_column = re.split(r"\s{2,}", line.strip())[0]
        base = ROOT / "aga_otel" if line.startswith("  ") else ROOT
        for token in re.findall(r"[\w.]+/?", first_column):
            if token.endswith((".py", "/")):
                assert (base / token).exists(), token
                checked += 1
    assert checked > 20


def test_two_setup_commands_and_ci_runs_the_test_command():
    assert "make demo" in README and "make test" in README
    assert "make test" in (ROOT / ".ci" / "run").read_text()
    for doc in ("CHANGELOG.md", "LICENSE"):
        assert (ROOT / doc).exists()
