"""My Numbers at rest: AES-GCM under a key kept outside the database, and a keyed hash for lookup.

The key file (JSON) holds every data key by id, which one is current, and the HMAC key:
``{"current": "k2", "keys": {"k1": "<base64>", "k2": "<base64>"}, "hmac_key": "<base64>"}``.
Rotation adds a key and makes it current; older ciphertexts name their key id and stay readable.
"""

from __future__ import annotations

import base64
import hmac
import json
import os
import secrets
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

_AAD = b"platform-hub:my-number:v1"
# OAuth client secrets (client_secret_jwt needs the secret itself to check an HS256 assertion): sealed
# under the same data keys, for a purpose of their own, bound to the client's id.
_SECRET_AAD = b"platform-hub:client-secret:v1"
# A console account's TOTP secret (the hub must have it to check a code): the same keys, for a purpose
# of its own, bound to the account's login.
_TOTP_AAD = b"platform-hub:totp-secret:v1"


class KeyFileError(Exception):
    """The key file is missing or unusable."""


@dataclass(frozen=True)
class MyNumberVault:
    keys: dict[str, bytes] = field(repr=False)
    current: str
    hmac_key: bytes = field(repr=False)
    _ciphers: dict[str, AESGCM] = field(default_factory=dict, repr=False, compare=False)

    def encrypt(self, my_number: str, integrated_number: str) -> tuple[str, bytes]:
        """``(key id, nonce ‖ ciphertext)`` under the current key, bound to the person's integrated
        number (a ciphertext copied onto another person's row no longer decrypts)."""
        nonce = os.urandom(12)
        sealed = self._cipher(self.current).encrypt(
            nonce, my_number.encode(), _AAD + integrated_number.encode()
        )
        return self.current, nonce + sealed

    def decrypt(self, key_id: str, blob: bytes, integrated_number: str) -> str:
        if key_id not in self.keys:
            raise KeyFileError(f"the key file has no key {key_id!r}: restore it before reading these")
        return self._cipher(key_id).decrypt(blob[:12], blob[12:], _AAD + integrated_number.encode()).decode()

    def seal_secret(self, secret: str, client_id: str) -> tuple[str, bytes]:
        """``(key id, nonce ‖ ciphertext)`` of a client's secret, bound to its client id."""
        nonce = os.urandom(12)
        sealed = self._cipher(self.current).encrypt(nonce, secret.encode(), _SECRET_AAD + client_id.encode())
        return self.current, nonce + sealed

    def open_secret(self, key_id: str, blob: bytes, client_id: str) -> str:
        if key_id not in self.keys:
            raise KeyFileError(f"the key file has no key {key_id!r}: restore it before reading these")
        return self._cipher(key_id).decrypt(blob[:12], blob[12:], _SECRET_AAD + client_id.encode()).decode()

    def seal_totp(self, secret: str, login: str) -> tuple[str, bytes]:
        """``(key id, nonce ‖ ciphertext)`` of an account's TOTP secret, bound to its login."""
        nonce = os.urandom(12)
        sealed = self._cipher(self.current).encrypt(nonce, secret.encode(), _TOTP_AAD + login.encode())
        return self.current, nonce + sealed

    def open_totp(self, key_id: str, blob: bytes, login: str) -> str:
        if key_id not in self.keys:
            raise KeyFileError(f"the key file has no key {key_id!r}: restore it before reading these")
        return self._cipher(key_id).decrypt(blob[:12], blob[12:], _TOTP_AAD + login.encode()).decode()

    def fingerprint(self) -> str:
        """Identifies the HMAC key without revealing it: lookups only work with the key that made them."""
        return self.lookup_hash("platform-hub:key-check")

    def _cipher(self, key_id: str) -> AESGCM:
        cipher = self._ciphers.get(key_id)
        if cipher is None:
            cipher = self._ciphers[key_id] = AESGCM(self.keys[key_id])
        return cipher

    @cached_property
    def record_key(self) -> bytes:
        """The key that authenticates the hub's records (each entry's MAC), derived from the HMAC key
        for a purpose of its own: it lives in the same file, outside the database."""
        return hmac.digest(self.hmac_key, b"platform-hub:record-mac:v1", "sha256")

    @cached_property
    def console_key(self) -> bytes:
        """The key the console derives a sign-in's secrets from (the OIDC nonce and PKCE verifier of
        a state), so that nothing of a half-done sign-in is kept on the server."""
        return hmac.digest(self.hmac_key, b"platform-hub:console:v1", "sha256")

    def lookup_hash(self, my_number: str) -> str:
        """HMAC-SHA256: equal numbers give equal hashes, and nobody without the key can test guesses."""
        return hmac.digest(self.hmac_key, my_number.encode(), "sha256").hex()


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def generate_key_file(path: Path) -> None:
    """Write a new key file readable by its owner only; refuses to overwrite one."""
    content = {
        "current": "k1",
        "keys": {"k1": _b64(AESGCM.generate_key(256))},
        "hmac_key": _b64(secrets.token_bytes(32)),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        json.dump(content, handle, indent=2)


def rotate_key_file(path: Path) -> str:
    """Add a new data key and make it current; returns its id. The HMAC key stays."""
    content = json.loads(path.read_text())
    key_id = f"k{len(content['keys']) + 1}"
    while key_id in content["keys"]:
        key_id += "x"
    content["keys"][key_id] = _b64(AESGCM.generate_key(256))
    content["current"] = key_id
    temporary = path.with_suffix(".tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        json.dump(content, handle, indent=2)
    temporary.replace(path)
    return key_id


def load_vault(path: Path) -> MyNumberVault:
    try:
        content = json.loads(path.read_text())
        keys = {kid: base64.b64decode(value) for kid, value in content["keys"].items()}
        vault = MyNumberVault(
            keys=keys, current=content["current"], hmac_key=base64.b64decode(content["hmac_key"])
        )
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise KeyFileError(f"cannot use the key file {path}: {type(exc).__name__}") from None
    if vault.current not in keys or any(len(k) != 32 for k in keys.values()) or len(vault.hmac_key) < 32:
        raise KeyFileError(f"the key file {path} needs 256-bit keys and its current key among them")
    return vault
