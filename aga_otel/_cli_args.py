"""Argument types and exit handling shared by the ``aga-otel`` subcommands.

Exit codes follow grep/diff: 0 success, 1 a negative answer (``audit verify``: the chain is
broken), 2 trouble (bad arguments, unreadable or foreign files), and 141 (128 + SIGPIPE),
silently, when the reader of our output went away (``aga-otel audit export x | head``).
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import time
from collections.abc import Callable
from datetime import datetime

EXIT_OK, EXIT_NEGATIVE, EXIT_ERROR, EXIT_BROKEN_PIPE = 0, 1, 2, 141

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_DURATION = re.compile(r"(?:(\d+(?:\.\d+)?)([smhdw]))+")


def parse_duration(text: str) -> float | None:
    """Seconds in ``90s``, ``15m``, ``1h30m``, ``2d``, ``1w``; None when not a duration."""
    text = text.strip().lower()
    if not text or not _DURATION.fullmatch(text):
        return None
    return sum(float(n) * _UNITS[u] for n, u in re.findall(r"(\d+(?:\.\d+)?)([smhdw])", text))


def time_arg(now: Callable[[], float] = time.time) -> Callable[[str], float]:
    """An argparse type: epoch seconds, an ISO-8601 date/time (naive means local time;
    ``Z`` and offsets are honoured) or a duration ago (``1h`` means an hour before now)."""

    def parse(text: str) -> float:
        ago = parse_duration(text)
        if ago is not None:
            return now() - ago
        try:
            return float(text)
        except ValueError:
            pass
        try:
            return datetime.fromisoformat(text.strip().replace("Z", "+00:00")).timestamp()
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"not a time: {text!r} (epoch seconds, ISO-8601 like 2026-11-29T14:00:00Z, "
                "or a duration ago like 90s, 15m, 1h, 2d, 1w)"
            ) from None

    parse.__name__ = "time"  # argparse names the type in its messages
    return parse


def positive_number(text: str) -> float:
    """An argparse type: a finite number > 0."""
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a number > 0, got {text!r}")
    return value


def positive_int(text: str) -> int:
    """An argparse type: an integer > 0."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be an integer > 0, got {text!r}")
    return value


def broken_pipe() -> int:
    """The reader closed our stdout: stop quietly (Python's documented recipe: point
    stdout at /dev/null so the interpreter's final flush cannot fail again)."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    return EXIT_BROKEN_PIPE


def run(func: Callable[[argparse.Namespace], int | None], args: argparse.Namespace) -> int:
    """Run a subcommand; a closed pipe ends it quietly with 141."""
    try:
        code = int(func(args) or 0)
        sys.stdout.flush()
        return code
    except BrokenPipeError:
        return broken_pipe()
