"""The aga-otel command: a demo (simulated workload through the real pipeline), the
audit trail tools, the bundled Grafana dashboards and the Prometheus alert rules."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from aga_otel import demo
from aga_otel._cli_args import EXIT_ERROR, run
from aga_otel._version import __version__


def _optional(name: str):
    """Subcommand modules that may be absent in a partial install are skipped."""
    import importlib

    try:
        return importlib.import_module(name)
    except ImportError:
        return None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="aga-otel", description=__doc__)
    parser.add_argument("--version", action="version", version=f"aga-otel {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    demo.add_parser(sub)
    for module in ("aga_otel.audit.cli", "aga_otel.dashboards.cli", "aga_otel.alerts.cli"):
        mod = _optional(module)
        if mod is not None and hasattr(mod, "add_parser"):
            mod.add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return EXIT_ERROR
    return run(args.func, args)


if __name__ == "__main__":
    sys.exit(main())
