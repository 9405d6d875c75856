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
from collections.abc import Iterable, Mapping
from functools import lru_cache
from math import isfinite
from typing import Any

from aga_otel.redaction import SENSITIVE_WORDS, is_sensitive_key, redact_text, sensitive_words

REDACTED = "***"
MAX_DEPTH = 16
_MAX_ITEMS = 1000  # per container; more are summarised, never iterated further
_INT_MIN, _INT_END = -(2**63), 2**63  # ints outside [_INT_MIN, _INT_END) are kept as text


def clean_text(value: Any, max_chars: int = 4096) -> str:
    """``value`` as a str that encodes to UTF-8 (lone surrogates escaped), capped."""
    if type(value) is str and len(value) <= max_chars and value.isascii():
        return value  # the common case: nothing to cut, nothing to escape
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


# What every pattern of redact_text(keep_paths=True) needs to match in ASCII text (in
# lower case): a URL's "://" followed by "user:password@", a keyword of "key=value"
# credentials, "bearer" or "basic". Non-ASCII text always takes the patterns (they match
# case-insensitively in Unicode, where "ſ" is an "s").
_TRIGGERS = ("password", "passwd", "secret", "token", "api", "authorization", "credential",
             "private", "bearer", "basic")  # fmt: skip


def redact_free_text(text: str) -> str:
    """``text`` with credentials masked (URL paths kept: they are part of the record)."""
    if text.isascii() and ("@" not in text or "://" not in text):
        low = text.lower()
        for word in _TRIGGERS:
            if word in low:
                break
        else:
            return text  # no pattern can match: skip the regexes
    return redact_text(text, REDACTED, keep_paths=True)


_KEY_CACHE = 4096  # keys whose sensitivity is remembered, per list of words


class _Keys:
    """The sensitive words of one ``redact_keys`` list, with a bounded cache of verdicts
    (details repeat the same few keys; ``is_sensitive_key`` normalises each time)."""

    def __init__(self, words: tuple[str, ...]) -> None:
        self.words = sensitive_words(words)
        self.verdicts: dict[str, bool] = {}

    def sensitive(self, key: str) -> bool:
        verdict = self.verdicts.get(key)
        if verdict is None:
            verdict = is_sensitive_key(key, self.words)
            if len(self.verdicts) >= _KEY_CACHE:
                self.verdicts.clear()
            self.verdicts[key] = verdict
        return verdict


@lru_cache(maxsize=16)
def _compiled(words: tuple[str, ...]) -> _Keys:
    return _Keys(words)


class _Walk:
    """One sanitising pass: sensitive words, size caps and the state of the walk.

    ``budget`` counts the characters of text kept so far. Once a record holds more than
    ``max_chars`` of text it will be replaced by a truncated preview anyway, so later
    strings become a marker without being scanned: a hostile ``details`` (a thousand 16 KB
    strings) costs one record's worth of redaction, not a thousand.

    Plain ``str``/``int``/``float``/``dict``/``list`` values (nearly all of them) are told
    apart by their exact type first; anything else takes the general ``isinstance`` checks.
    """

    def __init__(self, redact: _Keys, max_chars: int) -> None:
        self.redact, self.max_chars, self.budget = redact, max_chars, max_chars
        self.seen: set[int] = set()

    def text(self, value: Any) -> str:
        if self.budget <= 0:
            return "<over the size cap>"
        text = clean_text(value, self.max_chars)
        self.budget -= len(text)
        return redact_free_text(text)

    def value(self, value: Any, depth: int = 0) -> Any:
        kind = type(value)
        if kind is str:
            return self.text(value)
        if kind is int:
            # Huge ints are legal JSON but unreadable to most consumers; keep them as text.
            return value if _INT_MIN <= value < _INT_END else str(value)
        if kind is float:
            return value if isfinite(value) else str(value)
        if kind is dict or kind is list:
            return self.container(value, depth)
        if value is None or isinstance(value, bool):
            return value
        if isinstance(value, int):
            return value if _INT_MIN <= value < _INT_END else str(value)
        if isinstance(value, float):
            return value if isfinite(value) else str(value)
        if isinstance(value, str) or not isinstance(value, (Mapping, list, tuple, set, frozenset)):
            return self.text(value)
        return self.container(value, depth)

    def container(self, value: Any, depth: int) -> Any:
        if depth >= MAX_DEPTH:
            return f"<nested deeper than {MAX_DEPTH} levels>"
        if id(value) in self.seen:
            return "<cycle>"
        self.seen.add(id(value))
        try:
            if type(value) is dict or isinstance(value, Mapping):
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
        verdicts, sensitive, walk = self.redact.verdicts, self.redact.sensitive, self.value
        text, container = self.text, self.container
        for i, (k, v) in enumerate(value.items()):
            if i >= _MAX_ITEMS:
                out["…"] = f"{len(value) - _MAX_ITEMS} more keys"
                break
            # clean_text's and value's commonest cases, inlined: most details are a few
            # plain keys holding small numbers, flags and short strings.
            key = k if type(k) is str and len(k) <= 256 and k.isascii() else clean_text(k, 256)
            hidden = verdicts.get(key)
            if hidden is None:
                hidden = sensitive(key)
            kind = type(v)
            if hidden:
                out[key] = REDACTED
            elif v is None or kind is bool or (kind is int and _INT_MIN <= v < _INT_END):
                out[key] = v
            elif kind is str:
                out[key] = text(v)
            elif kind is dict or kind is list:
                out[key] = container(v, depth + 1)
            else:
                out[key] = walk(v, depth + 1)
        return out


# What json.dumps(value, sort_keys=True, ...) builds on every call, built once.
_CANONICAL = json.JSONEncoder(
    sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False
)
# The same text for a tree the walk built: every dict and list in it is new and appears
# once, so the encoder's search for circular references (half its time) finds nothing.
_CANONICAL_TREE = json.JSONEncoder(
    sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False,
    check_circular=False,
)  # fmt: skip


def canonical_json(value: Any) -> str:
    """The one serialisation used for hashing and storage (stable, ASCII-only)."""
    return _CANONICAL.encode(value)


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
    plain = _plain_copy(details, redact, max_bytes) if type(details) is dict else None
    if plain is not None:
        safe, text = plain
        if len(text) <= max_bytes:
            return safe, text
    try:
        safe = _Walk(redact, max_bytes).value(details)
        text = _CANONICAL_TREE.encode(safe)
    except Exception as exc:  # e.g. a Mapping whose items() raises
        safe = {"_unserialisable": clean_text(f"{type(exc).__name__}: {exc}", 512)}
        text = _CANONICAL_TREE.encode(safe)
    if len(text) > max_bytes:
        preview = text[: max(0, max_bytes - 128)]
        safe = {"_truncated": True, "_original_bytes": len(text), "preview": preview}
        text = _CANONICAL_TREE.encode(safe)
    return safe, text


class _NotPlain(Exception):
    """Raised inside :func:`_plain_copy` where only the full walk gives the right answer."""


def _plain_copy(details: dict, redact: _Keys, max_bytes: int) -> tuple[dict, str] | None:
    """The walk's result for the commonest ``details``, or None to take the full walk.

    Plain means: only exact ``dict``/``list``/``str``/``int``/``float``/``bool``/``None``,
    ASCII keys of at most 256 characters, ints within int64, finite floats, containers of
    at most ``_MAX_ITEMS`` below ``MAX_DEPTH`` (so a cycle is never plain), ASCII strings
    under the cap whose joined text no credential pattern can match (the check
    :func:`redact_free_text` makes, once for all of them) and, with the canonical text at
    most ``max_bytes``, a budget that never runs out. Then the walk would copy every value
    unchanged (sensitive keys masked), which is what this builds.
    """
    strings: list[str] = []
    verdicts, sensitive = redact.verdicts, redact.sensitive

    def copy(value: Any, depth: int) -> Any:
        if depth >= MAX_DEPTH or len(value) > _MAX_ITEMS:
            raise _NotPlain
        if type(value) is list:
            return [item(v, depth) for v in value]
        out = {}
        for k, v in value.items():
            if type(k) is not str or len(k) > 256 or not k.isascii():
                raise _NotPlain
            hidden = verdicts.get(k)
            if hidden is None:
                hidden = sensitive(k)
            out[k] = REDACTED if hidden else item(v, depth)
        return out

    def item(v: Any, depth: int) -> Any:
        kind = type(v)
        if kind is str:
            if len(v) > max_bytes or not v.isascii():
                raise _NotPlain
            strings.append(v)
            return v
        if v is None or kind is bool:
            return v
        if kind is int:
            if _INT_MIN <= v < _INT_END:
                return v
            raise _NotPlain
        if kind is float:
            if isfinite(v):
                return v
            raise _NotPlain
        if kind is dict or kind is list:
            return copy(v, depth + 1)
        raise _NotPlain

    try:
        safe = copy(details, 0)
    except _NotPlain:
        return None
    except RecursionError:
        return None
    joined = "\x00".join(strings)  # NUL: no pattern can span two strings
    if redact_free_text(joined) is not joined:
        return None  # some string may hold a credential: the walk redacts each one
    return safe, _CANONICAL_TREE.encode(safe)
