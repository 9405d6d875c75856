"""``aga-otel rules``: print, write or check the generated Prometheus alert rules."""

from __future__ import annotations

from aga_otel.alerts import promrules


def add_parser(subparsers) -> None:
    """Register the ``rules`` subcommand on the ``aga-otel`` parser."""
    p = subparsers.add_parser(
        "rules",
        help="Prometheus alert rules for your scrape/evaluation intervals (print, --write, "
        "--check)",
    )
    promrules.add_arguments(p)
    p.set_defaults(func=promrules.run)
