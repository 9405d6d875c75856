"""Every ```python block of README.md and docs/*.md runs, each in a fresh interpreter.

How blocks are run:

- one subprocess per block, in an empty temporary directory, with a timeout, and without
  the machine's ``OTEL_*`` variables;
- fixed ports are freed: ``prometheus_port=<n>`` / ``health_port=<n>`` become ``0`` and
  ``OTEL_EXPORTER_PROMETHEUS_PORT=0`` covers configurations that do not name the port;
- aga-core is not installable here, so unless it is, ``import aga`` gives a stand-in:
  ``aga.AGAPlugin`` (the contract's simulated plugin, whose constructor ends with aga-core
  4.4's observability hook), ``aga.AGAConfig`` and ``aga.instrumentation.EventBus``.
  README examples can therefore be written exactly as users write them;
- a block that cannot run on its own (a fragment using names defined elsewhere) is
  skipped when the nearest non-blank line above its fence is ``<!-- no-test -->``.
"""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
NO_TEST = "<!-- no-test -->"
TIMEOUT = 60
_FENCE = re.compile(r"^(\s*)```\s*(python|py|python3)\s*$")
_PORT = re.compile(r"\b(prometheus_port|health_port)\s*=\s*\d+")

AGA_STUB = '''\
"""Stand-in for aga-core 4.4 in documentation tests (see tests/test_readme_examples.py)."""
from aga_otel.contract import EventBus, SimulatedConfig as AGAConfig, SimulatedPlugin


class AGAPlugin(SimulatedPlugin):
    def __init__(self, config=None, **kwargs):
        super().__init__(config or AGAConfig(**kwargs))
        if self.config.observability_enabled:  # aga-core 4.4's auto-integration hook
            try:
                from aga_observability import setup_observability
            except ImportError:
                return
            setup_observability(self.event_bus, self.config)
'''


@dataclass(frozen=True)
class Block:
    path: Path
    line: int  # 1-based line of the opening fence
    code: str
    skip: bool

    @property
    def id(self) -> str:
        return f"{self.path.relative_to(ROOT)}:{self.line}"


def doc_files() -> list[Path]:
    files = [ROOT / "README.md"] if (ROOT / "README.md").exists() else []
    return files + sorted((ROOT / "docs").glob("*.md"))


def extract_blocks(path: Path) -> list[Block]:
    """The python blocks of a Markdown file, with their no-test marks."""
    lines = path.read_text(encoding="utf-8").splitlines()
    blocks, i = [], 0
    while i < len(lines):
        match = _FENCE.match(lines[i])
        if not match:
            i += 1
            continue
        indent, start = match.group(1), i
        body = []
        i += 1
        while i < len(lines) and lines[i].strip() != "```":
            body.append(lines[i][len(indent) :] if lines[i].startswith(indent) else lines[i])
            i += 1
        above = next((ln.strip() for ln in reversed(lines[:start]) if ln.strip()), "")
        blocks.append(Block(path, start + 1, textwrap.dedent("\n".join(body)), above == NO_TEST))
        i += 1
    return blocks


def free_ports(code: str) -> str:
    """Fixed Prometheus/health ports in a block become 0 (any free port)."""
    return _PORT.sub(lambda m: f"{m.group(1)}=0", code)


BLOCKS = [b for f in doc_files() for b in extract_blocks(f)]


def test_readme_exists():
    assert (ROOT / "README.md").exists(), "README.md is missing"


@pytest.mark.parametrize("block", BLOCKS, ids=[b.id for b in BLOCKS])
def test_doc_block_runs(block: Block, tmp_path: Path):
    if block.skip:
        pytest.skip(f"{block.id} is marked {NO_TEST}")
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    env["OTEL_EXPORTER_PROMETHEUS_PORT"] = "0"
    paths = [str(ROOT)]
    if importlib.util.find_spec("aga") is None:
        stub = tmp_path / "_stubs" / "aga"
        stub.mkdir(parents=True)
        (stub / "__init__.py").write_text(AGA_STUB)
        (stub / "instrumentation.py").write_text("from aga_otel.contract import Event, EventBus\n")
        paths.insert(0, str(stub.parent))
    env["PYTHONPATH"] = os.pathsep.join(paths + [env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    work = tmp_path / "cwd"
    work.mkdir()
    try:
        out = subprocess.run(
            [sys.executable, "-c", free_ports(block.code)],
            cwd=work, env=env, capture_output=True, text=True, timeout=TIMEOUT,
        )  # fmt: skip
    except subprocess.TimeoutExpired:
        pytest.fail(f"{block.id} ran longer than {TIMEOUT}s (mark it {NO_TEST} if it serves)")
    assert out.returncode == 0, (
        f"{block.id} failed (make it standalone or mark it {NO_TEST}):\n{out.stderr[-3000:]}"
    )


# --- the harness itself -------------------------------------------------------------------------
def test_extract_blocks_marks_and_dedents(tmp_path: Path):
    md = tmp_path / "x.md"
    md.write_text(
        "text\n```python\nprint(1)\n```\n<!-- no-test -->\n\n```py\nfragment(x)\n```\n"
        "- item\n  ```python\n  if True:\n      print(2)\n  ```\n```bash\nls\n```\n"
    )
    blocks = extract_blocks(md)
    assert [(b.line, b.code, b.skip) for b in blocks] == [
        (2, "print(1)", False),
        (7, "fragment(x)", True),
        (11, "if True:\n    print(2)", False),
    ]


def test_free_ports_rewrites_fixed_ports_only():
    code = "ObservabilityConfig(prometheus_port=9090, health_port = 8080, audit_batch_size=100)"
    assert free_ports(code) == (
        "ObservabilityConfig(prometheus_port=0, health_port=0, audit_batch_size=100)"
    )
