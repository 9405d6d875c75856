"""Credential redaction: the one place that decides what a URL, header or text may show.

Used wherever aga-otel shows something a user configured or an error reported: log lines
about exports, ``get_stats()`` and ``/health`` details, ``ConfigError`` messages, and the
audit trail (keys and free text of ``details`` and ``error``).

- A URL keeps its scheme, host and port only: ``user:password@`` is a credential by
  definition, and a webhook's path or query often is one (Slack, Teams, query tokens).
- Header values are never shown (``Authorization``, ``api-key`` ...), only their names.
- In free text, ``password=...``/``token: ...`` pairs and ``Bearer ...``/``Basic ...``
  credentials are masked, and URLs are shortened as above.
- A mapping key is sensitive when, normalised to snake_case (``apiKey``, ``api-key``,
  ``API_KEY`` → ``api_key``), it equals a sensitive word or ends with one as whole parts:
  ``access_token`` and ``client_secret`` are, ``max_tokens`` and ``token_count`` are not.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Mapping
from functools import lru_cache
from typing import Any

MASK = "<redacted>"

#: Words that make a key sensitive (see :func:`is_sensitive_key`); the audit trail's list
#: is configurable (``audit_redact_keys``) and starts from these.
SENSITIVE_WORDS = (
    "password", "passwd", "secret", "token", "api_key", "authorization", "credential",
    "credentials", "private_key",
)  # fmt: skip

_URL = re.compile(r"\b([a-zA-Z][a-zA-Z0-9+.-]{0,31}://)(?:[^\s/@]*@)?([^\s/?#]*)(\S*)")
_ANY_URL = re.compile(r"([a-zA-Z][a-zA-Z0-9+.-]{0,31}://)?(?:[^/?#@\s]*@)?([^/?#@\s]*)(.*)", re.S)
_USERINFO = re.compile(r"\b([a-zA-Z][a-zA-Z0-9+.-]{0,31}://)[^\s/@]*@")
# The keyword itself is matched (not the whole key), so "db_password=x" needs no
# backtracking over the prefix; what follows the keyword must be the separator, which
# keeps "max_tokens=5" and "tokenizer: x" as they are.
_SECRET_KV = re.compile(
    r"(?i)(password|passwd|secret|token|api[_-]?key|authorization|credentials?|private[_-]?key)"
    r"(\"?\s*[=:]\s*\"?)(?:(?:bearer|basic|token)\s+)?[^\s\"',;&]+"
)
# A bare request path with a query ("url: /v1/metrics?sig=..."; urllib3's request lines).
_PATH_QUERY = re.compile(r"((?:^|[\s\"'])/[^\s?\"']*)\?[^\s\"')]+")
_SCHEME_CREDENTIAL = re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]{6,}")
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")


def redact_url(url: Any) -> Any:
    """``url`` with scheme, host and port only (also when it is not a well-formed URL);
    a value that is not a str is returned as is (``None`` stays ``None``)."""
    if not isinstance(url, str):
        return url
    m = _ANY_URL.match(url)
    return f"{m.group(1) or ''}{m.group(2)}{'/' + MASK if m.group(3) else ''}"


def _short_url(m: re.Match) -> str:
    rest = m.group(3).rstrip(".,;:)\"'")  # keep a sentence's punctuation
    tail = m.group(3)[len(rest) :]
    return f"{m.group(1)}{m.group(2)}{'/' + MASK if rest else ''}{tail}"


def redact_headers(headers: Any) -> Any:
    """Header names kept, every value masked (a non-str value shows its type only)."""
    if not isinstance(headers, Mapping):
        return MASK if headers else headers
    return {
        k: MASK if isinstance(v, str) else f"{MASK} {type(v).__name__}" for k, v in headers.items()
    }


def redact_text(text: str, mask: str = MASK, keep_paths: bool = False) -> str:
    """Free text with URLs shortened and ``key=value`` / ``Bearer x`` credentials masked.

    ``keep_paths`` (the audit trail, where a ``load_from`` source path is the record)
    keeps URL paths and masks only ``user:password@`` (and secret query parameters, as
    ``key=value`` pairs).
    """
    if "://" in text:
        if keep_paths:
            text = _USERINFO.sub(lambda m: f"{m.group(1)}{mask}@", text)
        else:
            text = _URL.sub(_short_url, text)
    if "=" in text or ":" in text:
        text = _SECRET_KV.sub(lambda m: f"{m.group(1)}{m.group(2)}{mask}", text)
    if not keep_paths and "?" in text:
        text = _PATH_QUERY.sub(lambda m: f"{m.group(1)}?{mask}", text)
    return _SCHEME_CREDENTIAL.sub(lambda m: f"{m.group(1)} {mask}", text)


@lru_cache(maxsize=4096)
def normalise_key(key: str) -> str:
    """``apiKey``/``API-Key``/``api key`` → ``api_key`` (camelCase, case, ``-``, spaces)."""
    key = _CAMEL.sub("_", key.strip())
    return re.sub(r"[^a-z0-9]+", "_", key.lower()).strip("_")


def sensitive_words(words: Iterable[str]) -> tuple[tuple[str, ...], ...]:
    """``words`` normalised and split into parts, ready for :func:`is_sensitive_key`."""
    return tuple({tuple(normalise_key(w).split("_")) for w in words if normalise_key(w)})


@lru_cache(maxsize=4096)
def is_sensitive_key(key: str, words: tuple[tuple[str, ...], ...]) -> bool:
    """True when ``key``'s normalised parts end with one of ``words`` (whole parts)."""
    parts = tuple(normalise_key(key).split("_"))
    return any(len(parts) >= len(w) and parts[-len(w) :] == w for w in words)


class RedactingFilter(logging.Filter):
    """Applies :func:`redact_text` to the records of libraries that log URLs (the OTLP
    exporters' "Transient error ... url: /v1/metrics?token=..." lines, urllib3's)."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            text = record.getMessage()
        except Exception:  # a broken record is the logging module's business
            return True
        redacted = redact_text(text)
        if redacted != text:
            record.msg, record.args = redacted, ()
        return True


_FILTER = RedactingFilter()


def redact_loggers(*names: str) -> None:
    """Install the redacting filter on the named loggers (idempotent)."""
    for name in names:
        logging.getLogger(name).addFilter(_FILTER)
