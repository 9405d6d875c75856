"""The audit chain's key (HMAC mode) and the sealed head that catches deleted tails.

Unkeyed, each entry's hash is ``sha256(prev_hash + fields)``: anyone who can write the
store can edit an entry and recompute every later hash. Keyed, it is
``HMAC-SHA256(key, prev_hash + fields)``: without the key nobody can produce a chain that
verifies. The key comes from a file or an environment variable and is never stored with
the trail; the store records only a key id (an HMAC of a constant, which reveals nothing
about the key) so that ``verify`` can tell "wrong key" from "tampered".

Every store also records its *head* (sequence number and hash of its newest entry), so
deleting the newest entries shows. Keyed, the head, the prune anchor and the sequence
number from which entries are keyed are *sealed* together with the key, so they cannot
be rewound or forged without it either.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass

from aga_otel._validate import ConfigError

MIN_KEY_BYTES = 16
HMAC_MODE = "hmac-sha256"


class KeyMismatch(ValueError):
    """The store is keyed with another key, or keyed and no key was given."""


class DamagedStore(ValueError):
    """The store's entries or state records were cut or forged: appending would overwrite
    the evidence, so the writer refuses (and ``verify`` says what is wrong)."""


def load_key(
    key_file: str | None = None,
    key_env: str | None = None,
    environ: Mapping[str, str] | None = None,
) -> bytes | None:
    """The key from ``key_file`` (its bytes, trailing newline stripped) or from the
    environment variable named ``key_env``; None when neither is set.

    Raises :class:`ConfigError` naming the setting when the key is unreadable or short.
    """
    if key_file:
        try:
            with open(key_file, "rb") as f:
                key = f.read().rstrip(b"\r\n")
        except OSError as exc:
            accepted = f"a readable file ({exc.strerror})"
            raise ConfigError("audit_hmac_key_file", key_file, accepted) from None
        _check_length(key, "audit_hmac_key_file", key_file)
        return key
    if key_env:
        value = (os.environ if environ is None else environ).get(key_env)
        if value is None:
            raise ConfigError("audit_hmac_key_env", key_env, "the name of a set variable")
        key = value.encode("utf-8")
        _check_length(key, "audit_hmac_key_env", key_env)
        return key
    return None


def _check_length(key: bytes, field: str, where: str) -> None:
    if len(key) < MIN_KEY_BYTES:
        raise ConfigError(field, where, f"a key of at least {MIN_KEY_BYTES} bytes")


def key_id(key: bytes) -> str:
    """A public name for ``key``: equal keys, equal ids; the id does not reveal the key."""
    return hmac.new(key, b"aga-otel audit key id", hashlib.sha256).hexdigest()[:16]


def entry_digest(key: bytes | None, prev_hash: str, payload: str) -> str:
    data = (prev_hash + payload).encode("ascii")
    if key is None:
        return hashlib.sha256(data).hexdigest()
    return hmac.new(key, data, hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class ChainState:
    """What a store keeps beside its entries: head, prune anchor, keying, seal."""

    head_seq: int = 0
    head_hash: str = ""
    anchor_seq: int | None = None
    anchor_hash: str | None = None
    keyed_from: int | None = None  # first keyed sequence number; None: unkeyed store
    key_id: str | None = None
    seal: str | None = None

    def expected_seal(self, key: bytes) -> str:
        fields = [self.head_seq, self.head_hash, self.anchor_seq, self.anchor_hash,
                  self.keyed_from, self.key_id]  # fmt: skip
        text = json.dumps(fields, separators=(",", ":")).encode("ascii")
        return hmac.new(key, b"aga-otel audit seal" + text, hashlib.sha256).hexdigest()

    def sealed(self, key: bytes | None) -> ChainState:
        if key is None or self.keyed_from is None:
            return self
        return ChainState(**{**self.__dict__, "seal": self.expected_seal(key)})

    def as_dict(self) -> dict:
        return dict(self.__dict__)

    @classmethod
    def from_dict(cls, d: Mapping) -> ChainState:
        return cls(**{k: d.get(k) for k in cls.__dataclass_fields__ if k in d})


def keying_for_write(state: ChainState, key: bytes | None) -> tuple[int | None, str | None]:
    """``(keyed_from, key_id)`` to continue a store with ``key``; raises KeyMismatch when
    the store is keyed and ``key`` is missing or another one (never downgrade silently)."""
    if state.keyed_from is not None:
        if key is None:
            raise KeyMismatch(
                "this audit store is keyed (HMAC); appending needs its key "
                "(audit_hmac_key_file / audit_hmac_key_env, or --key-file / --key-env)"
            )
        if key_id(key) != state.key_id:
            raise KeyMismatch(
                f"this audit store is keyed with key id {state.key_id}, not {key_id(key)}"
            )
        if state.seal != state.expected_seal(key):
            raise DamagedStore(
                "the audit store's head, anchor or keying record does not match its seal; "
                "refusing to append (run `aga-otel audit verify`, then move the store aside)"
            )
        return state.keyed_from, state.key_id
    if key is None:
        return None, None
    return state.head_seq + 1, key_id(key)  # keyed from the next entry on
