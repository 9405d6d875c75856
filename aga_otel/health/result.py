"""What one health check returns, and how any check's return value becomes one.

Every check ends as a :class:`CheckResult`: a :class:`~aga_otel.status.Status`, a short
human detail and a flat dict of scalar data. Everything that reaches an HTTP response
passes through :func:`safe_data` / :func:`redact` first, because check data comes from the
plugin, from user checks and from exceptions, and the health endpoint is unauthenticated.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from aga_otel.redaction import redact_text
from aga_otel.status import Status

__all__ = ["CheckResult", "Status", "normalize", "redact", "safe_data"]

MAX_DETAIL = 200  # characters; a detail is a hint for humans, not a log
MAX_STR_VALUE = 64


@dataclass(frozen=True)
class CheckResult:
    """The outcome of one check: status, a short detail and scalar data."""

    status: Status
    detail: str = ""
    data: dict[str, Any] = field(default_factory=dict)
    skipped: bool = False  # e.g. no plugin bound: reported, but not a real measurement

    @classmethod
    def healthy(cls, detail: str = "", **data: Any) -> CheckResult:
        return cls(Status.HEALTHY, detail, data)

    @classmethod
    def degraded(cls, detail: str, **data: Any) -> CheckResult:
        return cls(Status.DEGRADED, detail, data)

    @classmethod
    def unhealthy(cls, detail: str, **data: Any) -> CheckResult:
        return cls(Status.UNHEALTHY, detail, data)

    @classmethod
    def skip(cls, detail: str) -> CheckResult:
        return cls(Status.HEALTHY, detail, {}, skipped=True)

    def as_dict(self, verbose: bool = False) -> dict[str, Any]:
        out: dict[str, Any] = {"status": self.status.label}
        if self.detail:
            out["detail"] = redact(self.detail)
        if self.skipped:
            out["skipped"] = True
        if verbose and self.data:
            out["data"] = safe_data(self.data)
        return out


def normalize(value: Any) -> CheckResult:
    """Turn a user check's return value into a CheckResult.

    Accepted: a CheckResult; a Status; a bool (True healthy, False unhealthy); None
    (healthy: the check did not complain); a ``(status, detail)`` tuple; a mapping with a
    ``"status"`` key (a Status or its label) and optional ``"detail"`` and other data.
    Anything else is unhealthy, so a buggy check is visible rather than silently green.
    """
    if isinstance(value, CheckResult):
        return value
    if isinstance(value, Status):
        return CheckResult(value)
    if isinstance(value, bool):
        return CheckResult(Status.HEALTHY if value else Status.UNHEALTHY)
    if value is None:
        return CheckResult(Status.HEALTHY)
    if isinstance(value, tuple) and len(value) == 2:
        status = _status(value[0])
        if status is not None:
            return CheckResult(status, str(value[1]))
    if isinstance(value, Mapping):
        status = _status(value.get("status"))
        if status is not None:
            data = {k: v for k, v in value.items() if k not in ("status", "detail")}
            return CheckResult(status, str(value.get("detail", "")), data)
    return CheckResult.unhealthy(
        f"check returned an unsupported value of type {type(value).__name__}"
    )


def _status(value: Any) -> Status | None:
    if isinstance(value, Status):
        return value
    if isinstance(value, str):
        try:
            return Status[value.strip().upper()]
        except KeyError:
            return None
    return None


def redact(text: str) -> str:
    """A detail string safe to show on an unauthenticated endpoint, at most 200 chars."""
    text = redact_text(str(text))
    text = " ".join(text.split())  # no newlines or tracebacks in a probe answer
    return text if len(text) <= MAX_DETAIL else text[: MAX_DETAIL - 3] + "..."


def safe_data(data: Mapping[str, Any], _depth: int = 0) -> dict[str, Any]:
    """Keep only JSON-safe scalars (and small nested dicts of them) from check data.

    Non-finite floats become None (JSON has no NaN); long strings are cut; anything else
    (tensors, objects, lists of ids) is dropped rather than stringified, so nothing the
    plugin happens to carry leaks into a response.
    """
    out: dict[str, Any] = {}
    for key, value in data.items():
        key = str(key)[:MAX_STR_VALUE]
        if isinstance(value, bool) or value is None or isinstance(value, int):
            out[key] = value
        elif isinstance(value, float):
            out[key] = value if math.isfinite(value) else None
        elif isinstance(value, str):
            out[key] = redact(value)[:MAX_STR_VALUE]
        elif isinstance(value, Mapping) and _depth < 1:
            out[key] = safe_data(value, _depth + 1)
    return out
