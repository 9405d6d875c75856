"""The fast paths of audit sanitisation give exactly what the plain algorithm gives.

``aga_otel.audit.sanitize`` skips work in the common case (plain ASCII text under the cap,
text no credential pattern can match, keys whose verdict is cached, exact types first).
The reference below is the plain algorithm as it was before those fast paths, written out
once here: every ``str`` round-trips through UTF-8, every string goes through
``redact_text``, every key through ``is_sensitive_key``. A seeded corpus of hostile and
benign ``details`` (nesting, sets, bytes, surrogates, huge strings and ints, NaN, cycles,
secrets in keys, URLs and free text, Unicode that matches ASCII case-insensitively) must
give the same ``(details, canonical JSON)`` through both, for several word lists and caps.
"""

from __future__ import annotations

import json
import math
import random
from collections import OrderedDict
from collections.abc import Mapping

import pytest

from aga_otel.audit import injections
from aga_otel.audit.sanitize import (
    canonical_json,
    clean_text,
    redact_free_text,
    sanitize_details,
)
from aga_otel.contract.bus import Event
from aga_otel.logs import records
from aga_otel.redaction import SENSITIVE_WORDS, is_sensitive_key, redact_text, sensitive_words

# --- the reference: the plain algorithm, no fast path ----------------------------------------


def ref_clean(value, max_chars=4096):
    if isinstance(value, str):
        text = value
    elif isinstance(value, (bytes, bytearray, memoryview)):
        text = bytes(value).decode("utf-8", "backslashreplace")
    else:
        try:
            text = str(value)
        except Exception:
            text = f"<unprintable {type(value).__name__}>"
    if len(text) > max_chars:
        text = text[:max_chars] + f"…[{len(text) - max_chars} more chars]"
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def ref_sanitize(details, redact_keys=SENSITIVE_WORDS, max_bytes=16384):
    words = sensitive_words(tuple(redact_keys))
    state = {"budget": max_bytes, "seen": set()}

    def text(value):
        if state["budget"] <= 0:
            return "<over the size cap>"
        t = ref_clean(value, max_bytes)
        state["budget"] -= len(t)
        return redact_text(t, "***", keep_paths=True)

    def walk(value, depth):
        if value is None or isinstance(value, bool):
            return value
        if isinstance(value, int):
            return value if -(2**63) <= value < 2**63 else str(value)
        if isinstance(value, float):
            return value if math.isfinite(value) else str(value)
        if isinstance(value, str) or not isinstance(value, (Mapping, list, tuple, set, frozenset)):
            return text(value)
        if depth >= 16:
            return "<nested deeper than 16 levels>"
        if id(value) in state["seen"]:
            return "<cycle>"
        state["seen"].add(id(value))
        try:
            if isinstance(value, Mapping):
                out = {}
                for i, (k, v) in enumerate(value.items()):
                    if i >= 1000:
                        out["…"] = f"{len(value) - 1000} more keys"
                        break
                    key = ref_clean(k, 256)
                    out[key] = "***" if is_sensitive_key(key, words) else walk(v, depth + 1)
                return out
            items = sorted(value, key=repr) if isinstance(value, (set, frozenset)) else value
            out = []
            for i, v in enumerate(items):
                if i >= 1000:
                    out.append("…more items")
                    break
                out.append(walk(v, depth + 1))
            return out
        finally:
            state["seen"].discard(id(value))

    if not isinstance(details, Mapping):
        details = {} if details is None else {"value": details}
    try:
        safe = walk(details, 0)
        dumped = _dumps(safe)
    except Exception as exc:
        safe = {"_unserialisable": ref_clean(f"{type(exc).__name__}: {exc}", 512)}
        dumped = _dumps(safe)
    if len(dumped) > max_bytes:
        preview = dumped[: max(0, max_bytes - 128)]
        safe = {"_truncated": True, "_original_bytes": len(dumped), "preview": preview}
        dumped = _dumps(safe)
    return safe, dumped


def _dumps(value):
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False
    )


# --- the corpus --------------------------------------------------------------------------------

FRAGMENTS = [
    "fact-12", "registered", " ", "  ", "\t", "\n", "=", ":", ": ", "://", "@", "/", "?", "&",
    "password", "PassWord", "passwd", "secret", "token", "TOKEN", "api_key", "api-key", "apikey",
    "authorization", "credential", "credentials", "private_key", "private-key", "bearer ",
    "Bearer ", "BASIC ", "basic", "abcdef123456", "hunter2", "sk-live-0123456789",
    "https://", "postgresql://", "user:pw@", "db.example.com:5432", "/kb/article?sig=x",
    "max_tokens=5", "tokenizer: gpt2", "\"", "'", ",", ";", "é", "日本", "\udcff", "\ud800",
    "ſ", "\u212a", "İ", "ı", "\xa0", "\u2028", "\x00", "😀",
]  # fmt: skip
KEYS = [
    "id", "reliability", "metadata", "source", "user", "tags", "note", "api_key", "apiKey",
    "API-Key", "db_password", "Authorization", "access_token", "client_secret", "max_tokens",
    "token_count", "SSN", "ssn", "", " ", "k" * 300, "é", "\udcff", "private key", "layer",
]  # fmt: skip


class Weird:
    def __str__(self):
        raise RuntimeError("no str for you")


class Str(str):
    pass


class Int(int):
    pass


def random_text(rng: random.Random) -> str:
    return "".join(rng.choice(FRAGMENTS) for _ in range(rng.randint(0, 12)))


def random_value(rng: random.Random, depth: int = 0):
    pick = rng.randint(0, 22 if depth < 5 else 12)
    scalars = [
        None, True, False, 0, -1, 2**63 - 1, 2**63, -(2**63), -(2**63) - 1, 10**40,
        0.5, -0.0, 1e308, math.nan, math.inf, -math.inf, b"bytes\xff\xfe", bytearray(b"ab"),
        Weird(), Str("sub password=x"), Int(7), random_text(rng), "x" * rng.choice((10, 300, 5000)),
    ]  # fmt: skip
    if pick <= 12:
        return rng.choice(scalars)
    n = rng.randint(0, 6)
    if pick <= 16:
        return {
            rng.choice(KEYS + [random_text(rng)]): random_value(rng, depth + 1) for _ in range(n)
        }
    if pick == 17:
        return [random_value(rng, depth + 1) for _ in range(n)]
    if pick == 18:
        return tuple(random_value(rng, depth + 1) for _ in range(n))
    if pick == 19:
        return {random_text(rng) for _ in range(n)}
    if pick == 20:
        return frozenset(rng.randint(0, 9) for _ in range(n))
    if pick == 21:
        return OrderedDict((rng.choice(KEYS), random_value(rng, depth + 1)) for _ in range(n))
    return {1: "int key", (1, 2): "tuple key", b"k": "bytes key", Weird(): "weird key"}


def corpus() -> list:
    rng = random.Random(20261129)
    cycle: dict = {"name": "loop"}
    cycle["self"] = cycle
    listed: list = [1]
    listed.append(listed)
    deep: dict = {}
    node = deep
    for _ in range(40):
        node["down"] = node = {}
    fixed = [
        None, 5, "plain", [1, 2], cycle, {"l": listed}, deep,
        {"id": "k1", "metadata": {"password": "hunter2", "SSN": "123", "ok": 1}},
        {"url": "postgresql://admin:s3cret@db:5432/aga", "auth": "Bearer abcdef123456"},
        {"note": "password=hunter2 and token: abc", "list": ["api_key=1", {"Token": "x"}]},
        {"big": "y" * 20000}, {"many": list(range(1500))}, {f"k{i}": i for i in range(1200)},
        {"huge": 10**30, "nan": math.nan, "neg": -math.inf},
        {"text": "baſic abcdefghijk", "kelvin": "api\u212aey=1", "dotted": "İ: x"},
        {"\udcff": "\udcff", "bytes": b"\xff\xfe"},
        {"many strings": ["z" * 4000 for _ in range(10)]},
    ]  # fmt: skip
    return fixed + [random_value(rng) for _ in range(600)]


CASES = corpus()


@pytest.mark.parametrize(
    ("redact_keys", "max_bytes"),
    [(SENSITIVE_WORDS, 16384), (SENSITIVE_WORDS, 300), (("ssn", "note", "layer"), 2048),
     ((), 16384)],
)  # fmt: skip
def test_sanitize_details_matches_the_plain_algorithm(redact_keys, max_bytes):
    for i, details in enumerate(CASES):
        got = sanitize_details(details, redact_keys, max_bytes)
        want = ref_sanitize(details, redact_keys, max_bytes)
        assert got[1] == want[1], f"case {i}: {details!r:.200}"
        assert got[0] == want[0] and got[1] == canonical_json(want[0])
        # Same order of keys too: the memory store hands details back as built.
        assert json.dumps(got[0], default=str) == json.dumps(want[0], default=str)


def test_free_text_and_clean_text_match_the_plain_algorithm():
    rng = random.Random(7)
    texts = [random_text(rng) for _ in range(5000)] + FRAGMENTS + KEYS
    for text in texts:
        assert redact_free_text(text) == redact_text(text, "***", keep_paths=True), repr(text)
        for cap in (4, 256, 4096):
            got = clean_text(text, cap)
            assert got == ref_clean(text, cap) and type(got) is str, repr(text)
    for value in (Str("abc"), b"abc\xff", 12, Weird(), None, 1.5, "é" * 10):
        assert clean_text(value, 5) == ref_clean(value, 5) and type(clean_text(value, 5)) is str


def test_cached_key_verdicts_hold_past_the_cache_bound():
    # More distinct keys than the verdict cache keeps, twice: cleared caches answer alike.
    keys = [f"field_{i}" for i in range(5000)] + [f"field_{i}_token" for i in range(5000)]
    for _ in range(2):
        details = {k: "v" for k in keys[:900]} | {k: "v" for k in keys[-900:]}
        assert sanitize_details(details) == ref_sanitize(details)
        assert sanitize_details({"nested": details}, ("field",)) == ref_sanitize(
            {"nested": details}, ("field",)
        )


def test_records_and_inject_rows_match_the_plain_sanitisation():
    """The log record's details attribute and the inject row go through the same walk."""
    for i, details in enumerate(CASES[:200]):
        event = Event("audit", 1_700_000_000.0, {"operation": "register", "success": True,
                                                 "error": "token=abc failed", "details": details})  # fmt: skip
        spec = records.build(event, records.INFO, SENSITIVE_WORDS, 4096)
        safe, dumped = ref_sanitize(details, SENSITIVE_WORDS, 4096)
        assert spec.attributes[records.A_DETAILS] == dumped, f"case {i}"
        assert spec.audit.details == safe and spec.audit.error == "token=*** failed"
    rng = random.Random(3)
    for _ in range(200):
        ids = [random_text(rng) for _ in range(rng.randint(0, 5))]
        event = Event("retrieval", 1_700_000_000.0, {"layer_idx": 3, "results_count": 5,
                                                     "injected_count": len(ids), "ids": ids,
                                                     "scores": [0.5] * len(ids)})  # fmt: skip
        row = injections.inject_record(event, 64, True, SENSITIVE_WORDS, 512, "host-1")
        if row is None:
            assert not ids
            continue
        facts = [{"id": ref_clean(x, 256), "score": 0.5} for x in ids]
        want = {"layer": 3, "results_count": 5, "injected_count": len(ids), "facts": facts,
                "facts_dropped": 0, "ids_recorded": True, "instance": "host-1"}  # fmt: skip
        assert row.details_json == ref_sanitize(_as_row_keys(want), SENSITIVE_WORDS, 512)[1]


def _as_row_keys(details: dict) -> dict:
    """The reference inject details under the real (semconv) key names."""
    from aga_otel import semconv as s

    names = {"layer": s.INJECT_LAYER, "results_count": s.INJECT_RESULTS,
             "injected_count": s.INJECT_INJECTED, "facts": s.INJECT_FACTS,
             "facts_dropped": s.INJECT_FACTS_DROPPED, "ids_recorded": s.INJECT_IDS_RECORDED,
             "instance": s.INJECT_INSTANCE}  # fmt: skip
    return {names[k]: v for k, v in details.items()}


def test_log_record_copy_is_the_plain_shallow_copy():
    """The batch processor's ``copy.copy`` of our records: same fields, shared values."""
    import copy

    from aga_otel.logs._sdk import CopyableLogRecord, LogRecord, SeverityNumber

    fields = dict(timestamp=1, observed_timestamp=2, severity_number=SeverityNumber(9),
                  severity_text="INFO", body="b", attributes={"a": [1]}, event_name="e")  # fmt: skip
    ours, plain = CopyableLogRecord(**fields), LogRecord(**fields)
    got, want = copy.copy(ours), copy.copy(plain)
    assert type(got) is CopyableLogRecord and got is not ours
    assert vars(got) == vars(want) and got.attributes is ours.attributes
    got.context = None
    assert ours.context is not None


def test_entry_hash_is_the_hash_of_the_plain_payload():
    """The chain's payload encoder, built once, writes what ``json.dumps`` wrote."""
    from aga_otel.audit.chain import entry_hash, make_record
    from aga_otel.audit.keys import entry_digest

    for i, details in enumerate(CASES[:100]):
        record = make_record(1_700_000_000.5 + i, "register\udcff", i % 2 == 0,
                             None if i % 3 else "boom é", details, max_detail_bytes=2048)  # fmt: skip
        fields = [i, record.timestamp, record.operation, record.success, record.error,
                  record.details_json, record.source]  # fmt: skip
        payload = json.dumps(fields, ensure_ascii=True, separators=(",", ":"))
        for key in (None, b"k" * 32):
            assert entry_hash("0" * 64, i, record, key) == entry_digest(key, "0" * 64, payload)


def test_records_built_around_the_sdk_equal_the_sdks_own():
    """``logs._sdk``'s shortcuts (pinned to SDK 1.45) give what the constructors give: the
    API record's fields, and a ReadWriteLogRecord whose attributes the SDK would not change.
    An SDK that adds, renames or reorders a field fails here, not in production."""
    from opentelemetry import trace
    from opentelemetry.context import Context
    from opentelemetry.sdk._logs import ReadWriteLogRecord
    from opentelemetry.sdk.resources import Resource

    from aga_otel.logs import _sdk

    sc = trace.SpanContext(5, 7, False, trace.TraceFlags(1))
    for ctx in (trace.set_span_in_context(trace.INVALID_SPAN, Context()),
                trace.set_span_in_context(trace.NonRecordingSpan(sc), Context())):  # fmt: skip
        attrs = {"a": "x", "b": 1, "c": 2.5, "d": True, "e": ("p", "q"), "f": (0.5,)}
        kw = dict(timestamp=11, observed_timestamp=12, context=ctx, severity_text="INFO",
                  severity_number=_sdk.SeverityNumber.INFO, body="b", attributes=attrs,
                  event_name="aga.x")  # fmt: skip
        plain = _sdk.CopyableLogRecord(**kw)
        assert tuple(plain.__dict__) == _sdk.RECORD_FIELDS
        trace_id, span_id, flags = _sdk.span_fields(ctx)
        fast = _sdk.make_record({**kw, "trace_id": trace_id, "span_id": span_id,
                                 "trace_flags": flags, "exception": None})  # fmt: skip
        assert fast.__dict__ == plain.__dict__ and type(fast) is type(plain)
        limits = _sdk.LogRecordLimits()
        assert _sdk.default_limits(limits, 32)
        resource = Resource.create({"service.name": "s"})
        sdk = ReadWriteLogRecord(_sdk.CopyableLogRecord(**kw), resource, None, limits)
        ours = _sdk.writable(fast, resource, None, limits)
        assert dict(ours.log_record.attributes) == dict(sdk.log_record.attributes)
        assert {k: type(v) for k, v in ours.log_record.attributes.items()} == {
            k: type(v) for k, v in sdk.log_record.attributes.items()
        }
        assert set(ours.__dict__) == set(sdk.__dict__)
    assert not _sdk.default_limits(_sdk.LogRecordLimits(max_attribute_length=10), 32)
    assert not _sdk.default_limits(_sdk.LogRecordLimits(max_attributes=4), 32)


def test_entry_hash_fast_payload_matches_json_for_odd_fields():
    """Timestamps of every float shape, an int one, inf, and text with escapes: the
    hand-built payload and the encoder's fallback both give ``json.dumps``'s text."""
    from aga_otel.audit.chain import AuditRecord, entry_hash
    from aga_otel.audit.keys import entry_digest

    for ts in (1e-7, 1_700_000_000 + 1 / 3, 1e22, 5, float("inf"), 0.1 + 0.2):
        for err in (None, 'quote " back \\ nl \n é'):
            rec = AuditRecord(ts, "op\x01", True, err, {}, '{"a":"\\u00e9"}', "src é")
            fields = [7, ts, rec.operation, True, err, rec.details_json, rec.source]
            payload = json.dumps(fields, ensure_ascii=True, separators=(",", ":"))
            assert entry_hash("f" * 64, 7, rec) == entry_digest(None, "f" * 64, payload)


def test_plain_details_fast_copy_matches_the_plain_algorithm():
    """Plain JSON details (the fast copy's case) and their near misses: triggers, URLs with
    and without userinfo, sensitive keys, the size cap, deep nests, long keys."""
    rng = random.Random(22)
    words = ["fact", "note", "api", "token", "https://h/x", "u:p@h", "a@b", "://", "basic",
             "x" * 300, "Bearer abcdefgh", "password=1", "ok"]  # fmt: skip
    keys = ["id", "meta", "api_key", "tags", "apiKey", "source", "k" * 300, "note"]

    def plain(depth=0):
        d = {}
        for _ in range(rng.randrange(0, 6)):
            kind = rng.randrange(6)
            if kind == 0 and depth < 18:
                v = plain(depth + 1)
            elif kind == 1:
                v = [rng.choice(words) for _ in range(rng.randrange(3))]
            elif kind == 2:
                v = rng.choice([1, 2**63, -(2**63), 0.5, True, None])
            else:
                v = " ".join(rng.choice(words) for _ in range(rng.randrange(1, 4)))
            d[rng.choice(keys)] = v
        return d

    for max_bytes in (64, 300, 16384):
        for _ in range(400):
            details = plain()
            got = sanitize_details(details, SENSITIVE_WORDS, max_bytes)
            want = ref_sanitize(details, SENSITIVE_WORDS, max_bytes)
            assert json.dumps(got[0]) == json.dumps(want[0]) and got[1] == want[1]  # key order
