"""``aga-otel rules``: print, write or check Prometheus alert rules.

Without ``--config`` the rules are aga-otel's defaults, and ``--write``/``--check`` without
``--output`` mean this repository's committed file (``collector/prometheus/rules/``), found
from the package's own location, never from the working directory: outside a checkout they
refuse and ask for ``--output``. ``--config FILE`` renders the ``alert_rules`` of the user's
aga-otel configuration (with the defaults unless ``alert_default_rules: false``);
``--prometheus-rule NAME`` wraps the groups in a Kubernetes ``PrometheusRule``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import yaml

from aga_otel._cli_args import EXIT_ERROR
from aga_otel.alerts import DEFAULT_RULES, promrules

REPOSITORY = Path(__file__).resolve().parents[2]


def repository_file() -> Path | None:
    """This checkout's committed rule file, or None when aga-otel runs from an install."""
    if (REPOSITORY / "pyproject.toml").is_file() and (REPOSITORY / "collector").is_dir():
        return REPOSITORY / promrules.RULES_FILE
    return None


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The options of ``python -m aga_otel.alerts.promrules`` and ``aga-otel rules``."""
    action = p.add_mutually_exclusive_group()
    action.add_argument("--write", action="store_true", help="write the rule file")
    action.add_argument("--check", action="store_true", help="exit 1 if the file is out of date")
    p.add_argument("--output", type=Path, default=None,
                   help="rule file (default: the repository's "
                        f"{promrules.RULES_FILE}, in a checkout only)")  # fmt: skip
    p.add_argument("--config", type=Path, default=None,
                   help="render the alert_rules of this aga-otel config file (YAML/TOML)")  # fmt: skip
    p.add_argument("--prometheus-rule", metavar="NAME", default=None,
                   help="a Kubernetes PrometheusRule named NAME (prometheus-operator)")  # fmt: skip
    p.add_argument("--scrape-interval", type=float, default=promrules.SCRAPE_INTERVAL_SECONDS,
                   help="your Prometheus's scrape_interval in seconds (default 15)")  # fmt: skip
    p.add_argument("--evaluation-interval", type=float,
                   default=promrules.EVALUATION_INTERVAL_SECONDS,
                   help="your Prometheus's evaluation_interval in seconds (default 15)")  # fmt: skip
    p.add_argument("--prefix", default=None, help="metric prefix (prometheus_prefix)")


def add_parser(subparsers) -> None:
    """Register the ``rules`` subcommand on the ``aga-otel`` parser."""
    p = subparsers.add_parser(
        "rules",
        help="Prometheus alert rules for your scrape/evaluation intervals (print, --write, "
        "--check)",
    )
    add_arguments(p)
    p.set_defaults(func=run)


def _text(args: argparse.Namespace, for_repository: bool) -> str:
    rules, prefix = DEFAULT_RULES, promrules.DEFAULT_PREFIX
    if args.config is not None:
        from aga_otel.config import ObservabilityConfig

        config = ObservabilityConfig.from_file(args.config)
        own = list(config.alert_rules)
        rules = ([*DEFAULT_RULES] if config.alert_default_rules else []) + own
        prefix = config.prometheus_prefix
    text = promrules.render(
        rules,
        scrape_interval=args.scrape_interval,
        evaluation_interval=args.evaluation_interval,
        prefix=args.prefix or prefix,
        for_repository=for_repository,
    )
    if args.prometheus_rule:
        header = "".join(line + "\n" for line in text.splitlines() if line.startswith("#"))
        groups = yaml.safe_load(text)["groups"]
        doc = {"apiVersion": "monitoring.coreos.com/v1", "kind": "PrometheusRule",
               "metadata": {"name": args.prometheus_rule}, "spec": {"groups": groups}}  # fmt: skip
        text = header + yaml.safe_dump(doc, sort_keys=False, width=1000, allow_unicode=True)
    return text


def run(args: argparse.Namespace) -> int:
    """Print, write (``--write``) or check (``--check``) the rule file."""
    from aga_otel.config import ConfigError

    output = args.output
    defaults = args.config is None and not args.prometheus_rule
    repo_file = repository_file()
    if (args.write or args.check) and output is None:
        output = repo_file if defaults else None
        if output is None:
            print("aga-otel rules: give the file with --output PATH (the default file is this "
                  "repository's, and this is no checkout or the rules are your own)",
                  file=sys.stderr)  # fmt: skip
            return EXIT_ERROR
    try:
        # The committed file's header names the test that checks it; a user's file does not.
        ours = defaults and (output is None or (repo_file and output.resolve() == repo_file))
        text = _text(args, for_repository=bool(ours))
    except (ConfigError, OSError, ValueError) as exc:
        print(f"aga-otel rules: {exc}", file=sys.stderr)
        return EXIT_ERROR
    if args.check:
        if not output.is_file():
            print(f"{output} is missing; run with --write", file=sys.stderr)
            return 1
        if output.read_text(encoding="utf-8") != text:
            print(f"{output} is out of date; run with --write", file=sys.stderr)
            return 1
        return 0
    if args.write:
        if not output.parent.is_dir():
            print(f"aga-otel rules: {output.parent} is not a directory (create it first)",
                  file=sys.stderr)  # fmt: skip
            return EXIT_ERROR
        try:
            output.write_text(text, encoding="utf-8")
        except OSError as exc:
            print(f"aga-otel rules: cannot write {output}: {exc.strerror or exc}",
                  file=sys.stderr)  # fmt: skip
            return EXIT_ERROR
        print(f"wrote {output}")
        return 0
    sys.stdout.write(text)
    return 0
