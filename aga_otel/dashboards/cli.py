"""``aga-otel dashboards``: print, write or check the generated Grafana dashboards."""

from __future__ import annotations

import argparse
import difflib
import sys
from pathlib import Path

from aga_otel.dashboards import DASHBOARDS, render


def add_parser(subparsers) -> None:
    """Register the ``dashboards`` subcommand on the ``aga-otel`` parser."""
    p = subparsers.add_parser(
        "dashboards", help="print, write (--write DIR) or verify (--check DIR) dashboards"
    )
    group = p.add_mutually_exclusive_group()
    group.add_argument("--write", metavar="DIR", help="write the dashboard JSON files to DIR")
    group.add_argument(
        "--check", metavar="DIR", help="exit 1 if the files in DIR differ from the generator"
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    rendered = {name: render(build()) for name, build in DASHBOARDS.items()}
    if args.write:
        out = Path(args.write)
        out.mkdir(parents=True, exist_ok=True)
        for name, text in rendered.items():
            (out / name).write_text(text, encoding="utf-8")
            print(f"wrote {out / name}")
        return 0
    if args.check:
        return _check(Path(args.check), rendered)
    for text in rendered.values():
        sys.stdout.write(text)
    return 0


def _check(folder: Path, rendered: dict[str, str]) -> int:
    stale = 0
    for name, text in rendered.items():
        path = folder / name
        if not path.is_file():
            print(f"{path} is missing")
            stale += 1
            continue
        current = path.read_text(encoding="utf-8")
        if current == text:
            continue
        stale += 1
        diff = difflib.unified_diff(
            current.splitlines(True), text.splitlines(True), str(path), f"generated {name}", n=1
        )
        sys.stdout.writelines(list(diff)[:40])
    if stale:
        print(f"{stale} dashboard file(s) missing or out of date; run: aga-otel dashboards "
              f"--write {folder}")  # fmt: skip
        return 1
    print(f"{len(rendered)} dashboard file(s) up to date in {folder}")
    return 0
