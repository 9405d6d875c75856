"""Make untrusted audit ``details`` safe to store: redacted, JSON-safe, size-capped.

aga-core puts arbitrary user dicts in ``details`` (``metadata`` of a registered item), so
values may be bytes, sets, tensors, NaN, cycles, huge strings or deep nests. Everything
becomes plain JSON (str/int/float/bool/None/list/dict with str keys) before it is hashed,
stored or exported. Secrets are masked wherever they appear (:mod:`aga_otel.redaction`):
values under a sensitive key (``db_password``, ``apiKey``, ``Authorization`` ...) at any
depth, inside lists too, and credentials in free text (``password=...``, ``Bearer ...``,
``user:password@`` in a URL).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from functools import lru_cache
from typing import Any

from aga_otel.redaction import SENSITIVE_WORDS, is_sensitive_key, redact_text, sensitive_words

REDACTED = "***"
MAX_DEPTH = 16
_MAX_ITEMS = 1000  # per container; more are summarised, never iterated further


def clean_text(value: Any, max_chars: int = 4096) -> str:
    """``value`` as a str that encodes to UTF-8 (lone surrogates escaped), capped."""
    text = value if isinstance(value, str) else _safe_str(value)
    if len(text) > max_chars:
        text = text[:max_chars] + f"…[{len(text) - max_chars} more chars]"
    # Lone surrogates (e.g. from os.fsdecode of non-UTF-8 names) cannot be written to
    # SQLite or a UTF-8 file; escape them instead of failing the whole batch.
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def _safe_str(value: Any) -> str:
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value).decode("utf-8", "backslashreplace")
    try:
        return str(value)
    except Exception:  # a hostile __str__ must not cost us the entry
        return f"<unprintable {type(value).__name__}>"


def redact_free_text(text: str) -> str:
    """``text`` with credentials masked (URL paths kept: they are part of the record)."""
    return redact_text(text, REDACTED, keep_paths=True)


_Words = tuple[tuple[str, ...], ...]


@lru_cache(maxsize=16)
def _compiled(words: tuple[str, ...]) -> _Words:
    return sensitive_words(words)


class _Walk:
    """One sanitising pass: sensitive words, size caps and the state of the walk.

    ``budget`` counts the characters of text kept so far. Once a record holds more than
    ``max_chars`` of text it will be replaced by a truncated preview anyway, so later
    strings become a marker without being scanned: a hostile ``details`` (a thousand 16 KB
    strings) costs one record's worth of redaction, not a thousand.
    """

    def __init__(self, redact: _Words, max_chars: int) -> None:
        self.redact, self.max_chars, self.budget = redact, max_chars, max_chars
        self.seen: set[int] = set()

    def text(self, value: Any) -> str:
        if self.budget <= 0:
            return "<over the size cap>"
        text = clean_text(value, self.max_chars)
        self.budget -= len(text)
        return redact_free_text(text)

    def value(self, value: Any, depth: int = 0) -> Any:
        if value is None or isinstance(value, bool):
            return value
        if isinstance(value, int):
            # Huge ints are legal JSON but unreadable to most consumers; keep them as text.
            return value if -(2**63) <= value < 2**63 else str(value)
        if isinstance(value, float):
            return value if math.isfinite(value) else str(value)
        if isinstance(value, str) or not isinstance(value, (Mapping, list, tuple, set, frozenset)):
            return self.text(value)
        if depth >= MAX_DEPTH:
            return f"<nested deeper than {MAX_DEPTH} levels>"
        if id(value) in self.seen:
            return "<cycle>"
        self.seen.add(id(value))
        try:
            if isinstance(value, Mapping):
                return self.mapping(value, depth)
            items = sorted(value, key=repr) if isinstance(value, (set, frozenset)) else value
            out = []
            for i, v in enumerate(items):
                if i >= _MAX_ITEMS:
                    out.append("…more items")
                    break
                out.append(self.value(v, depth + 1))
            return out
        finally:
            self.seen.discard(id(value))

    def mapping(self, value: Mapping, depth: int) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for i, (k, v) in enumerate(value.items()):
            if i >= _MAX_ITEMS:
                out["…"] = f"{len(value) - _MAX_ITEMS} more keys"
                break
            key = clean_text(k, 256)
            sensitive = is_sensitive_key(key, self.redact)
            out[key] = REDACTED if sensitive else self.value(v, depth + 1)
        return out


def canonical_json(value: Any) -> str:
    """The one serialisation used for hashing and storage (stable, ASCII-only)."""
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False
    )


def sanitize_details(
    details: Any, redact_keys: Iterable[str] = SENSITIVE_WORDS, max_bytes: int = 16384
) -> tuple[dict, str]:
    """Return ``(details, canonical_json(details))`` made safe and at most ``max_bytes``.

        A value whose key is sensitive (the whole key, or its last parts, normalised to
        snake_case, equals a word of ``redact_keys``; see :func:`aga_otel.redaction.
        is_sensitive_key`) is replaced by ``"***"`` at any depth; credentials in strings too.
        A non-dict ``details`` is kept under ``{"value": ...}``. When the result is still too
        large, it is replaced by a marker holding its size and a truncated preview (strings past
    the size cap are counted as a short marker: they were never going to be kept).
    """
    redact = _compiled(tuple(redact_keys))
    if not isinstance(details, Mapping):
        details = {} if details is None else {"value": details}
    try:
        safe = _Walk(redact, max_bytes).value(details)
        text = canonical_json(safe)
    except Exception as exc:  # e.g. a Mapping whose items() raises
        safe = {"_unserialisable": clean_text(f"{type(exc).__name__}: {exc}", 512)}
        text = canonical_json(safe)
    if len(text) > max_bytes:
        preview = text[: max(0, max_bytes - 128)]
        safe = {"_truncated": True, "_original_bytes": len(text), "preview": preview}
        text = canonical_json(safe)
    return safe, text
