"""Issue 27: `make` reinstalls only when pyproject.toml changed (a stamp in the venv) and
`make help` lists the targets. Real make, dry runs (-n) against a throwaway venv folder."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from conftest import require

ROOT = Path(__file__).resolve().parents[1]


def make(*argv: str) -> str:
    make = shutil.which("make")
    require(make is not None, "make not installed")
    out = subprocess.run([make, "-C", str(ROOT), *argv], capture_output=True, text=True,
                         timeout=60)  # fmt: skip
    assert out.returncode == 0, out.stderr
    return out.stdout


def test_install_runs_pip_only_when_pyproject_is_newer_than_the_stamp(tmp_path):
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    (venv / "bin" / "python").symlink_to(sys.executable)
    stamp = venv / ".installed"
    stamp.touch()
    pyproject = (ROOT / "pyproject.toml").stat().st_mtime
    os.utime(stamp, (pyproject + 60, pyproject + 60))  # installed after the last change
    assert "pip install" not in make("-n", "install", f"VENV={venv}")
    os.utime(stamp, (pyproject - 60, pyproject - 60))  # pyproject.toml changed since
    planned = make("-n", "install", f"VENV={venv}")
    assert "pip install -q -e '.[dev]'" in planned and f"touch {stamp}" in planned


def test_make_help_lists_the_everyday_targets():
    listed = {line.split()[0] for line in make("--no-print-directory", "help").splitlines()}
    assert {"help", "install", "demo", "test", "lint", "rules", "dashboards"} <= listed
