"""The error type and value predicates under every configuration check.

:class:`ConfigError` names the field, the value and what is accepted; the ``_is_*``
predicates are the shapes the field rules of :mod:`aga_otel._validate` accept.
"""

from __future__ import annotations

import math
from typing import Any

from aga_otel.redaction import redact_headers, redact_text


class ConfigError(ValueError):
    """A configuration value that aga-otel cannot accept."""

    def __init__(self, field: str, value: Any, accepted: str) -> None:
        self.field, self.value, self.accepted = field, value, accepted
        super().__init__(f"invalid configuration: {field}={value!r}; accepted: {accepted}")


def unknown_field(field: Any, value: Any, accepted: str) -> ConfigError:
    """The error for a key that is no field (a typo of ``otlp_headers`` may hold a token:
    a mapping shows its keys only, text is redacted)."""
    if isinstance(value, dict):
        value = redact_headers(value)
    elif isinstance(value, str):
        value = redact_text(value)
    return ConfigError(str(field), value, accepted)


def _check(cond: bool, field: str, value: Any, accepted: str) -> None:
    if not cond:
        raise ConfigError(field, value, accepted)


def _is_bool(v: Any) -> bool:
    return isinstance(v, bool)


def _is_num(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _is_port(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= 65535


def _is_str_map(v: Any) -> bool:
    return isinstance(v, dict) and all(
        isinstance(k, str) and isinstance(x, str) for k, x in v.items()
    )
