"""Issue 14 item 8: secrets never reach the audit trail or the log file in clear.

Events go through a real stack on the contract bus; the assertions read the files on disk.
"""

from __future__ import annotations

import json
import time

import pytest
from conftest import local_config
from otlp_receiver import GrpcReceiver, attrs

from aga_otel.audit import open_store
from aga_otel.contract import EventBus
from aga_otel.redaction import is_sensitive_key, normalise_key, sensitive_words

SECRETS = {
    "access_token": "S-access",
    "client_secret": "S-client",
    "db_password": "S-db",
    "apiKey": "S-apikey",
    "api-key": "S-api-dash",
    "Authorization": "S-authz",
    "privateKey": "S-private",
    "credentials": {"user": "u", "pass": "S-creds"},
}
LEAKS = (
    "S-access", "S-client", "S-db", "S-apikey", "S-api-dash", "S-authz", "S-private",
    "S-creds", "S-listed", "S-inline", "S-bearer-token", "S-userinfo", "S-error",
)  # fmt: skip
KEPT = {"max_tokens": 512, "token_count": 17, "id": "k1", "passage": "public text"}


def emit_and_read(tmp_path, make_stack, backend, name, **config):
    bus = EventBus()
    path = tmp_path / name
    log = tmp_path / "events.log"
    cfg = local_config(
        log_enabled=True,
        log_file=str(log),
        audit_storage_backend=backend,
        audit_storage_path=str(path),
        **config,
    )
    stack = make_stack(bus, cfg)
    bus.emit(
        "audit",
        {
            "operation": "register",
            "details": {
                **KEPT,
                "metadata": {**SECRETS, "items": [{"api_key": "S-listed"}, "password=S-inline"]},
                "headers": [["Authorization", "Bearer S-bearer-token"]],
                "source": "https://alice:S-userinfo@kb.example/data.jsonl",
            },
            "success": False,
            "error": "login failed: password=S-error token: S-error2 (Bearer S-error-bearer)",
            "timestamp": time.time(),
        },
    )
    stack.shutdown(timeout=5)
    row = open_store(backend, path, read_only=True).query()[0]
    return row, path.read_bytes(), log.read_text()


@pytest.mark.parametrize(("backend", "name"), [("sqlite", "a.db"), ("file", "a.jsonl")])
def test_secrets_masked_in_store_and_log_file(tmp_path, make_stack, backend, name):
    row, raw, log = emit_and_read(tmp_path, make_stack, backend, name)
    for text in (raw.decode("utf-8", "replace"), log, json.dumps(row)):
        leaked = [s for s in LEAKS if s in text]
        assert leaked == []
    meta = row["details"]["metadata"]
    assert {k: meta[k] for k in SECRETS} == {k: "***" for k in SECRETS}
    assert meta["items"] == [{"api_key": "***"}, "password=***"]
    for key, value in KEPT.items():  # max_tokens / token_count are not secrets
        assert row["details"][key] == value
    assert row["details"]["headers"] == [["Authorization", "Bearer ***"]]
    # The path of a source URL is part of the record; only the credential goes.
    assert row["details"]["source"] == "https://***@kb.example/data.jsonl"
    assert row["error"] == "login failed: password=*** token: *** (Bearer ***)"


def test_word_list_is_configurable(tmp_path, make_stack):
    row, _, _ = emit_and_read(
        tmp_path, make_stack, "sqlite", "b.db", audit_redact_keys=("passage", "ssn")
    )
    assert row["details"]["passage"] == "***"
    # The configured list replaces the default one: token keys are kept this time...
    assert row["details"]["metadata"]["access_token"] == "S-access"
    # ...but free-text credentials are always masked.
    assert "S-error" not in row["error"]


@pytest.mark.parametrize(
    ("key", "sensitive"),
    [
        ("access_token", True), ("client_secret", True), ("db_password", True),
        ("apiKey", True), ("api-key", True), ("API_KEY", True), ("Authorization", True),
        ("x-api-key", True), ("privateKey", True), ("HTTPAuthorization", True),
        ("max_tokens", False), ("token_count", False), ("tokenizer", False),
        ("secretary", False), ("keyword", False), ("passage", False),
    ],
)  # fmt: skip
def test_key_matching_whole_key_or_last_parts(key, sensitive):
    words = sensitive_words(("password", "secret", "token", "api_key", "authorization",
                             "private_key"))  # fmt: skip
    assert is_sensitive_key(key, words) is sensitive, normalise_key(key)


def test_secrets_masked_in_exported_log_records_and_spans(make_stack):
    """The OTLP copies of an audit event (log record, span) are masked the same way."""
    bus = EventBus()
    with GrpcReceiver() as receiver:
        cfg = local_config(
            log_enabled=True,
            tracing_enabled=True,
            otlp_logs_endpoint=receiver.endpoint,
            otlp_traces_endpoint=receiver.endpoint,
            otlp_insecure=True,
        )
        stack = make_stack(bus, cfg)
        bus.emit(
            "audit",
            {"operation": "register", "success": False, "timestamp": time.time(),
             "details": {"metadata": {"client_secret": "S-client"}},
             "error": "denied: Authorization: Bearer S-error-bearer"},
        )  # fmt: skip
        stack.shutdown(timeout=5)
        got = receiver.received
        got.wait_for("logs")
        got.wait_for("traces")
        records = [r for r in got.log_records() if "register" in str(r.body)]
        spans = [s for s in got.spans() if s.name.startswith("aga.audit")]
    assert records and spans
    exported = [str(r.body) + json.dumps(attrs(r.attributes), default=str) for r in records]
    exported += [s.status.message + json.dumps(attrs(s.attributes), default=str) for s in spans]
    for text in exported:
        assert "S-client" not in text and "S-error-bearer" not in text, text


def test_oversized_details_are_truncated_without_leaking_late_secrets():
    """Strings past the size cap are not scanned (bounded work for a hostile payload), and
    never reach the truncated preview either, whatever order the keys sort in."""
    from aga_otel.audit.sanitize import sanitize_details

    details = {f"z{i:03d}": "a." * 2000 + "://" for i in range(50)}
    details["a_note"] = "login with token=S-late and Bearer S-late-bearer"  # sorts first
    safe, text = sanitize_details(details, max_bytes=4096)
    assert safe["_truncated"] is True and len(text) <= 4096
    assert "S-late" not in text
