"""Tamper evidence: each entry's canonical digest, the hash chain the sealer builds, Ed25519 checkpoints.

An entry's digest is fixed when it is written. The sealer — one at a time across hub replicas —
appends entries to the chain in batches outside the request path: chain_hash(n) = SHA-256(chain_hash
(n−1) ‖ entry id ‖ entry digest). Now and then it signs the head. ``verify`` recomputes all of it
and names the first entry that no longer matches.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cached_property
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

GENESIS = "0" * 64
CONTENT_FIELDS = (
    "reception_number",
    "msgid",
    "interface_id",
    "pattern",
    "requesting_unit",
    "requesting_organ",
    "requesting_department",
    "requesting_user",
    "providing_unit",
    "providing_organ",
    "purpose_code",
    "ordinance_rule_id",
    "refusal_reason",
    "information_category",
    "item_names",
    "subject_integrated_number",
    "requested_at",
    "provided_at",
    "outcome",
    "body_digest",
    "recorded_at",
    "binding",
    "onward_binding",
)
# Content added after entries were written: left out of the canonical JSON when null, so the entries
# written before it keep their digests (and their chain) as they were.
LATER_FIELDS = ("binding", "onward_binding")


OPERATION_FIELDS = (
    "at",
    "client_id",
    "role",
    "unit_code",
    "department",
    "clerk",
    "action",
    "subject_integrated_number",
    "outcome",
    "detail",
    "parameters",
)
_quote = json.encoder.encode_basestring


def _plain(value: Any) -> Any:
    """Timestamps in UTC, as the database gives them back, whatever zone they were written in."""
    return value.astimezone(UTC).isoformat(timespec="microseconds") if isinstance(value, datetime) else value


def rendered(values: Sequence[str | list[str] | None]) -> list[str]:
    """Each value of an entry's content (in canonical order, timestamps as ISO strings with
    microseconds) as canonical JSON. One comprehension calling only the C escaper: this is the hot loop."""
    return [
        "null" if v is None else _quote(v) if isinstance(v, str) else "[" + ", ".join(map(_quote, v)) + "]"
        for v in values
    ]


@dataclass(frozen=True)
class Canon:
    """The canonical form of one ledger's entries: ``json.dumps(content, ensure_ascii=False,
    sort_keys=True)``. Verification recomputes it for every entry, so it is built from a fixed template
    and the C string escaper json.dumps itself uses (a test holds the two equal)."""

    fields: tuple[str, ...]
    later: tuple[str, ...] = ()  # left out when null: see LATER_FIELDS

    @cached_property
    def order(self) -> tuple[str, ...]:
        return tuple(sorted(self.fields))

    @cached_property
    def template(self) -> str:
        return self._template(())

    @cached_property
    def _later_at(self) -> tuple[int, ...]:
        return tuple(self.order.index(name) for name in self.later)

    @functools.cache  # noqa: B019 - a handful of Canon instances, each living as long as the process
    def _template(self, absent: tuple[int, ...]) -> str:
        kept = (name for at, name in enumerate(self.order) if at not in absent)
        return "{" + ", ".join(f'"{name}": %s' for name in kept) + "}"

    def rendered_digest(self, values: list[str]) -> str:
        absent = tuple(at for at in self._later_at if values[at] == "null")
        if absent:
            values = [value for at, value in enumerate(values) if at not in absent]
        return hashlib.sha256((self._template(absent) % tuple(values)).encode()).hexdigest()

    def content_digest(self, values: Sequence[str | list[str] | None]) -> str:
        return self.rendered_digest(rendered(values))

    def entry_digest(self, entry: Any) -> str:
        """SHA-256 of an entry's content as canonical JSON (the same before and after a database trip)."""
        return self.content_digest([_plain(getattr(entry, name)) for name in self.order])

    def entry_digests(self, content: dict[str, Any], subjects: Sequence[str | None]) -> list[str]:
        """``entry_digest`` of one transfer's entries, one per subject: the shared content rendered once."""
        values = rendered([_plain(content.get(name)) for name in self.order])
        at = self.order.index("subject_integrated_number")
        digests = []
        for subject in subjects:
            values[at] = "null" if subject is None else _quote(subject)
            digests.append(self.rendered_digest(values))
        return digests


TRANSFERS = Canon(CONTENT_FIELDS, LATER_FIELDS)
OPERATIONS = Canon(OPERATION_FIELDS)
CANONICAL_ORDER = TRANSFERS.order
content_digest = TRANSFERS.content_digest
entry_digest = TRANSFERS.entry_digest


def mac(key: bytes, digest: str) -> str:
    """An entry's digest authenticated with the record key: only the hub, which holds the key outside
    the database, can write an entry that verifies (a row inserted by SQL alone cannot). Keyed
    BLAKE2s, a MAC of its own: verification checks one per entry, and it costs a fifth of an HMAC."""
    return hashlib.blake2s(digest.encode(), key=key).hexdigest()


def macs_match(key: bytes, digest: str, stored: str | None) -> bool:
    return stored is not None and hmac.compare_digest(mac(key, digest), stored)


def chain_hash(previous: str, entry_id: int | str, digest: str) -> str:
    return hashlib.sha256(f"{previous}:{entry_id}:{digest}".encode()).hexdigest()


def statement(seq: int, head_hash: str, created_at: datetime, ledger: str = "transfers") -> bytes:
    """What a checkpoint signs. The transfer record's checkpoints name no ledger (they predate the
    operations record); the others do, so a checkpoint of one chain never passes for the other's."""
    content: dict[str, object] = {"seq": seq, "head_hash": head_hash, "created_at": _plain(created_at)}
    if ledger != "transfers":
        content["ledger"] = ledger
    return json.dumps(content, sort_keys=True).encode()


def purge_statement(purge: Any) -> bytes:
    """What a retention removal signs: what went, and where the chain goes on from."""
    return json.dumps(
        {
            "before": _plain(purge.before),
            "entries_removed": purge.entries_removed,
            "anchor_seq": purge.anchor_seq,
            "anchor_hash": purge.anchor_hash,
            "anchor_entry_id": purge.anchor_entry_id,
            "purged_at": _plain(purge.purged_at),
            "purged_by": purge.purged_by,
        },
        ensure_ascii=False,
        sort_keys=True,
    ).encode()


@dataclass(frozen=True)
class SigningKey:
    private: Ed25519PrivateKey

    @property
    def public_pem(self) -> str:
        return (
            self.private.public_key()
            .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
            .decode()
        )

    @property
    def key_id(self) -> str:
        return key_id(self.private.public_key())

    def sign(self, message: bytes) -> str:
        return base64.b64encode(self.private.sign(message)).decode()


def key_id(public: Ed25519PublicKey) -> str:
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()


def signature_valid(public_pem: str, message: bytes, signature: str) -> bool:
    public = serialization.load_pem_public_key(public_pem.encode())
    if not isinstance(public, Ed25519PublicKey):
        return False
    try:
        public.verify(base64.b64decode(signature), message)
    except (InvalidSignature, ValueError):
        return False
    return True


def load_signing_key(path: Path, *, create: bool) -> SigningKey:
    """The checkpoint signing key (PEM, PKCS#8); created (mode 0600) when missing and ``create``."""
    if not path.exists() and create:
        pem = Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        path.parent.mkdir(parents=True, exist_ok=True)
        with os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "wb") as handle:
            handle.write(pem)
    private = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(private, Ed25519PrivateKey):
        raise ValueError(f"{path} is not an Ed25519 private key")
    return SigningKey(private)
