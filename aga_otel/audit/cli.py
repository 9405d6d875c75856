"""aga-otel audit query|export|verify|prune PATH: read and check an audit store file.

PATH may be a postgresql:// URL; a file's backend is detected from the file (SQLite
header, else JSON lines), and a file that is neither is refused. query, export and verify
open the store read-only. verify exits 1 when the chain is broken (a torn last line from a
crash is reported but is not a failure); any command exits 2 when the store cannot be read.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import sys
import time
from collections import deque
from collections.abc import Iterable
from datetime import datetime, timezone
from pathlib import Path

from aga_otel._cli_args import (
    EXIT_ERROR,
    EXIT_OK,
    broken_pipe,
    positive_int,
    positive_number,
    time_arg,
)
from aga_otel._cli_args import EXIT_NEGATIVE as EXIT_BROKEN
from aga_otel._validate import ConfigError
from aga_otel.audit import detect_backend, open_store
from aga_otel.audit.keys import load_key
from aga_otel.audit.store_check import NotAnAuditStore, require_store

CSV_FIELDS = ("seq", "timestamp", "operation", "success", "error", "details", "source",
              "prev_hash", "hash")  # fmt: skip
TIME_HELP = "epoch seconds, ISO-8601 (2026-11-29T14:00:00Z) or a duration ago (90s, 1h, 2d)"
_time = time_arg()


def _bool(text: str) -> bool:
    low = text.lower()
    if low in ("true", "yes", "1"):
        return True
    if low in ("false", "no", "0"):
        return False
    raise argparse.ArgumentTypeError(f"not a boolean: {text!r} (true or false)")


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Register ``audit`` on the main CLI's subparsers; sets ``func`` on parsed args."""
    audit = subparsers.add_parser(
        "audit", help="query, export, verify or prune an audit store", description=__doc__
    )
    sub = audit.add_subparsers(dest="audit_command", metavar="SUBCOMMAND", required=True)

    q = sub.add_parser("query", help="matching entries, newest first")
    _path(q)
    q.add_argument("--operation")
    q.add_argument("--since", type=_time, help=TIME_HELP)
    q.add_argument("--until", type=_time, help=TIME_HELP)
    q.add_argument("--success", type=_bool, help="true or false")
    q.add_argument("--limit", type=positive_int, default=100, help="at most this many (100)")
    q.add_argument("--instance", help="service.instance.id (postgresql:// PATH only)")
    q.add_argument("--fact-id", dest="fact_id", help="rows about this fact (details id)")
    _format(q)
    _epoch(q)
    q.set_defaults(func=cmd_query)

    e = sub.add_parser("export", help="every entry, oldest first")
    _path(e)
    _format(e, ("json", "jsonl", "csv"))
    e.add_argument("--output", "-o", help="write here instead of stdout")
    _epoch(e)
    e.set_defaults(func=cmd_export)

    v = sub.add_parser(
        "verify",
        help="check the hash chain (exit 1 when broken)",
        description="Check the hash chain. Exit 0: intact; 1: broken (edited, deleted, "
        "reordered or truncated); 2: could not check (no store, or a keyed store without "
        "its key).",
    )
    _path(v)
    _format(v, ("text", "json"), default="text")
    _key(v)
    v.set_defaults(func=cmd_verify)

    p = sub.add_parser("prune", help="drop entries older than the retention period")
    _path(p)
    when = p.add_mutually_exclusive_group(required=True)
    when.add_argument("--older-than-days", type=positive_number, dest="days", help="> 0")
    when.add_argument("--before", type=_time, help=TIME_HELP)
    p.add_argument("--dry-run", action="store_true", help="count what would go; delete nothing")
    _key(p)
    p.set_defaults(func=cmd_prune)

    # explain: knowledge attribution (docs/knowledge-attribution.md)
    x = sub.add_parser("explain", help="the facts a request got, and where each came from")
    _path(x)
    which = x.add_mutually_exclusive_group(required=True)
    which.add_argument("--trace", metavar="TRACE_ID", help="the request's trace id (32 hex)")
    which.add_argument("--fact", metavar="ID", help="one fact's history and requests")
    _format(x, ("text", "json"), default="text")
    x.set_defaults(func=cmd_explain)
    return audit


def _path(p: argparse.ArgumentParser) -> None:
    p.add_argument("path", metavar="PATH", help="a SQLite/JSONL file or postgresql:// URL")


def _epoch(p: argparse.ArgumentParser) -> None:
    p.add_argument("--epoch", action="store_true",
                   help="timestamps as epoch seconds, exactly as stored and hashed "
                        "(default: ISO-8601 in UTC)")  # fmt: skip


def _shown(entries: Iterable[dict], epoch: bool) -> Iterable[dict]:
    """Entries with ISO-8601 UTC timestamps (microseconds kept), unless ``epoch``."""
    if epoch:
        yield from entries
        return
    for e in entries:
        ts = e.get("timestamp")
        if isinstance(ts, (int, float)) and not isinstance(ts, bool):
            stamp = datetime.fromtimestamp(ts, timezone.utc).isoformat(timespec="microseconds")
            e = {**e, "timestamp": stamp.replace("+00:00", "Z")}
        yield e


def _about_fact(store, args) -> list[dict]:
    """Newest-first rows whose details ``id`` is ``args.fact_id``, on a local store (the
    PostgreSQL backend indexes the column; here it is one pass over the file)."""
    from aga_otel.audit.pgrows import fact_id

    since, until = args.since, args.until
    found: deque = deque(maxlen=args.limit)
    for e in store.iter_entries():
        if (fact_id(e.get("details")) == args.fact_id
                and (args.operation is None or e["operation"] == args.operation)
                and (since is None or e["timestamp"] >= since)
                and (until is None or e["timestamp"] <= until)
                and (args.success is None or e["success"] is args.success)):  # fmt: skip
            found.append(e)
    return list(reversed(found))


def _key(p: argparse.ArgumentParser) -> None:
    key = p.add_mutually_exclusive_group()
    key.add_argument("--key-file", help="HMAC key file of a keyed store")
    key.add_argument("--key-env", metavar="VAR", help="environment variable holding the key")


def _format(p: argparse.ArgumentParser, choices=("json", "csv"), default="json") -> None:
    p.add_argument("--format", choices=choices, default=default)


def _open(args, read_only: bool = True):
    backend = detect_backend(args.path)
    require_store(backend, args.path)  # never create, or read a foreign file as empty
    try:
        key = load_key(getattr(args, "key_file", None), getattr(args, "key_env", None))
    except ConfigError as exc:
        raise ValueError(f"{exc.value}: not usable as a key; needs {exc.accepted}") from None
    return open_store(backend, args.path, read_only=read_only, key=key)


def _write_entries(entries: Iterable[dict], fmt: str, out) -> None:
    if fmt == "csv":
        w = csv.DictWriter(out, fieldnames=CSV_FIELDS, extrasaction="ignore")
        w.writeheader()
        for e in entries:
            w.writerow({**e, "details": json.dumps(e["details"], sort_keys=True)})
    elif fmt == "jsonl":
        for e in entries:
            out.write(json.dumps(e, sort_keys=True) + "\n")
    else:
        out.write("[")
        for i, e in enumerate(entries):  # streamed: exports may hold millions of rows
            out.write((",\n" if i else "\n") + json.dumps(e, sort_keys=True))
        out.write("\n]\n")


def _guarded(fn):
    def run(args) -> int:
        try:
            return fn(args)
        except BrokenPipeError:  # the reader went away (| head): stop quietly
            return broken_pipe()
        except NotAnAuditStore as exc:
            print(f"aga-otel audit: {exc}", file=sys.stderr)
            return EXIT_ERROR
        except (OSError, ValueError) as exc:  # missing file, bad path, malformed input
            print(f"aga-otel audit: {exc}", file=sys.stderr)
            return EXIT_ERROR
        except Exception as exc:
            print(f"aga-otel audit: {type(exc).__name__}: {exc}", file=sys.stderr)
            return EXIT_ERROR

    run.__doc__ = fn.__doc__
    return run


@_guarded
def cmd_query(args) -> int:
    """Print matching entries, newest first."""
    store = _open(args)
    fleet = {k: v for k in ("instance", "fact_id") if (v := getattr(args, k, None)) is not None}
    if store.backend == "postgresql" or not fleet:
        rows = store.query(args.operation, args.since, args.until, args.success, args.limit,
                           **fleet)  # fmt: skip
    elif "instance" in fleet:
        raise ValueError("--instance needs a postgresql:// PATH (a local store is one instance)")
    else:
        rows = _about_fact(store, args)
    _write_entries(_shown(rows, args.epoch), args.format, sys.stdout)
    return EXIT_OK


@_guarded
def cmd_export(args) -> int:
    """Write every entry, oldest first."""
    store = _open(args)
    entries = _shown(store.iter_entries(), args.epoch)
    if not args.output:
        _write_entries(entries, args.format, sys.stdout)
        return EXIT_OK
    target = Path(args.output)
    if target.is_dir():
        raise ValueError(f"cannot write {target}: it is a directory (give a file name)")
    if not target.parent.is_dir():
        raise ValueError(f"cannot write {target}: {target.parent} is not a directory")
    try:
        f = open(target, "w", encoding="utf-8", newline="")  # noqa: SIM115 - closed below
    except OSError as exc:
        raise ValueError(f"cannot write {target}: {exc.strerror or exc}") from None
    counted = _Counted(entries)
    with f:
        _write_entries(counted, args.format, f)
    print(f"exported {counted.n} entries to {target} ({args.format})", file=sys.stderr)
    return EXIT_OK


class _Counted:
    """Iterates ``entries`` once, counting them (exports are streamed, never listed)."""

    def __init__(self, entries: Iterable[dict]) -> None:
        self._entries, self.n = entries, 0

    def __iter__(self):
        for e in self._entries:
            self.n += 1
            yield e


@_guarded
def cmd_verify(args) -> int:
    """Check the chain; exit 1 at the first edited, deleted or reordered entry."""
    report = _open(args).verify()
    if args.format == "json":
        print(json.dumps(report.as_dict(), sort_keys=True))
    else:
        print(_describe(report))
    if not report.ok:
        return EXIT_BROKEN
    return EXIT_ERROR if report.needs_key else EXIT_OK


def _describe(report) -> str:
    buf = io.StringIO()
    if report.ok and report.needs_key:
        buf.write(
            f"UNVERIFIED: entries from {report.keyed_from} on are HMAC-keyed; pass --key-file "
            f"or --key-env ({report.checked} unkeyed entries verified before them)"
        )
    elif report.ok:
        buf.write(f"OK: {report.checked} entries verified")
        if report.keyed_from is not None:
            buf.write(f", HMAC-keyed from entry {report.keyed_from}")
        if report.anchor:
            buf.write(f" (after prune anchor at sequence {report.anchor['seq']})")
    else:
        buf.write(
            f"BROKEN: entry {report.seq} {report.problem} ({report.detail}); "
            f"{report.checked} entries verified before it"
        )
    for note in report.notes:
        buf.write(f"\nnote: {note}")
    return buf.getvalue()


@_guarded
def cmd_prune(args) -> int:
    """Remove old entries, keeping the remaining chain verifiable."""
    before = args.before if args.before is not None else time.time() - args.days * 86400
    store = _open(args, read_only=args.dry_run)
    try:
        if args.dry_run:  # what prune removes: the oldest entries up to the first newer one
            n = 0
            for entry in store.iter_entries():
                if entry["timestamp"] >= before:
                    break
                n += 1
            result = {"would_prune": n, "before": before, "dry_run": True}
        else:
            result = {"pruned": store.prune(before), "before": before}
    finally:
        store.close()
    print(json.dumps(result))
    return EXIT_OK


@_guarded
def cmd_explain(args) -> int:
    """Answer from the audit trail alone; exit 1 when its hash chain is broken."""
    from aga_otel.audit import explain

    store = _open(args)
    if args.trace is not None:
        report = explain.explain_trace(store, args.trace)
    else:
        report = explain.explain_fact(store, args.fact)
    if args.format == "json":
        print(json.dumps(report.as_dict(), sort_keys=True))
    else:
        print(explain.describe(report))
    return EXIT_OK if report.chain_ok else EXIT_BROKEN


def main(argv: list[str] | None = None) -> int:
    """Stand-alone entry point: ``python -m aga_otel.audit.cli query PATH``."""
    from aga_otel.cli import main as cli_main

    return cli_main(["audit", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    sys.exit(main())
