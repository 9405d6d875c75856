"""docs/migration.md's examples run as written, or say what they need.

``tests/test_readme_examples.py`` runs every block with a stand-in for aga-core on the path.
Here the blocks of the migration guide that do not import aga-core run without it, exactly
as a reader with only aga-otel installed would run them, and the ones that do import it say
so in the block itself (a reader copies the block, not the paragraph above it).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest
from test_readme_examples import ROOT, TIMEOUT, extract_blocks, free_ports

GUIDE = ROOT / "docs" / "migration.md"
BLOCKS = extract_blocks(GUIDE)
NEEDS_AGA = re.compile(r"^\s*(from aga import|import aga\b|from aga\.)", re.M)


def test_the_guide_has_both_kinds_of_example():
    assert any(NEEDS_AGA.search(b.code) for b in BLOCKS)
    assert any(not NEEDS_AGA.search(b.code) for b in BLOCKS)


@pytest.mark.parametrize("block", BLOCKS, ids=[b.id for b in BLOCKS])
def test_an_example_that_needs_aga_core_says_so(block):
    for line in block.code.splitlines():
        if NEEDS_AGA.search(line):
            assert "aga-core" in line and "installed separately" in line, line


@pytest.mark.parametrize(
    "block", [b for b in BLOCKS if not NEEDS_AGA.search(b.code)], ids=lambda b: b.id
)
def test_an_example_without_aga_core_runs_with_aga_otel_alone(block, tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    env["PYTHONPATH"] = str(ROOT)  # aga-otel only: no stand-in for aga-core on the path
    env["OTEL_EXPORTER_PROMETHEUS_PORT"] = "0"
    out = subprocess.run(
        [sys.executable, "-c", free_ports(block.code)],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=TIMEOUT,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-3000:]
    if "any_latency" in block.code:  # the read-your-writes example prints what it promises
        assert out.stdout.splitlines() == ["any_latency", "{'id': 'fact-1'}", "True"]
