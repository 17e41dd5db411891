"""The platform's Ed25519 signing key: only the audit service holds the private half (docs/adr/0030).

`TIAODU_AUDIT_SIGNING_KEY` (or `TIAODU_SEAL_KEY`, deploy/'s name) holds the private key as base64 of its 32-byte
seed (or PEM), or `TIAODU_AUDIT_SIGNING_KEY_FILE` names a file holding it (`make run` writes one into `.run/` with
mode 0600). Outside
development a missing key is an error at start; in development an ephemeral key is made (and said so in the log).
After a rotation the earlier public keys stay verifiable: `TIAODU_AUDIT_PREVIOUS_PUBLIC_KEYS` lists them (base64,
comma-separated), and `/v1/audit/public-key` publishes them all.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import logging
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

log = logging.getLogger("tiaodu.audit.signing")

KEY_ENV = "TIAODU_AUDIT_SIGNING_KEY"
DEPLOY_KEY_ENV = "TIAODU_SEAL_KEY"  # the name docker-compose.yml and deploy/k8s give the same key
KEY_FILE_ENV = "TIAODU_AUDIT_SIGNING_KEY_FILE"
PREVIOUS_ENV = "TIAODU_AUDIT_PREVIOUS_PUBLIC_KEYS"


def key_id_of(public_raw: bytes) -> str:
    """The first 16 hex digits of SHA-256 of the 32 raw public-key bytes."""
    return hashlib.sha256(public_raw).hexdigest()[:16]


def raw_public(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


@dataclass(frozen=True)
class PublicKey:
    key_id: str
    raw: bytes

    def document(self) -> dict[str, str]:
        return {"key_id": self.key_id, "algorithm": "Ed25519", "public_key": base64.b64encode(self.raw).decode()}


class Signer:
    def __init__(self, private: Ed25519PrivateKey, previous: tuple[PublicKey, ...] = ()) -> None:
        self._private = private
        raw = raw_public(private.public_key())
        self.public = PublicKey(key_id_of(raw), raw)
        self.previous = tuple(p for p in previous if p.key_id != self.public.key_id)

    @property
    def key_id(self) -> str:
        return self.public.key_id

    def sign(self, message: bytes) -> str:
        return base64.b64encode(self._private.sign(message)).decode()

    def keys(self) -> dict[str, PublicKey]:
        """Every key a seal of this platform may name: the current one and the earlier ones."""
        return {k.key_id: k for k in (self.public, *self.previous)}


def parse_private(text: str) -> Ed25519PrivateKey:
    text = text.strip()
    if text.startswith("-----BEGIN"):
        key = serialization.load_pem_private_key(text.encode(), password=None)
        if not isinstance(key, Ed25519PrivateKey):
            raise ValueError("the PEM key is not an Ed25519 private key")
        return key
    try:
        seed = base64.b64decode(text, validate=True)
    except binascii.Error:
        raise ValueError("neither PEM nor base64") from None
    if len(seed) != 32:
        raise ValueError(f"the base64 seed is {len(seed)} bytes, not 32")
    return Ed25519PrivateKey.from_private_bytes(seed)


def parse_public(text: str) -> PublicKey:
    raw = base64.b64decode(text.strip(), validate=True)
    Ed25519PublicKey.from_public_bytes(raw)  # raises ValueError unless 32 bytes
    return PublicKey(key_id_of(raw), raw)


def new_private_text() -> str:
    """A fresh key as base64 of its seed (what `make run` writes into `.run/`)."""
    seed = Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )
    return base64.b64encode(seed).decode()


def signer_from_env(environment: str, env: dict[str, str] | None = None) -> Signer:
    env = dict(os.environ) if env is None else env
    try:
        previous = tuple(parse_public(p) for p in env.get(PREVIOUS_ENV, "").split(",") if p.strip())
    except ValueError as exc:
        raise RuntimeError(f"{PREVIOUS_ENV}: {exc}") from exc
    if text := env.get(KEY_ENV):
        source = KEY_ENV
    elif text := env.get(DEPLOY_KEY_ENV):
        source = DEPLOY_KEY_ENV
    elif path := env.get(KEY_FILE_ENV):
        source = f"{KEY_FILE_ENV} ({path})"
        try:
            text = Path(path).read_text()
        except OSError as exc:
            raise RuntimeError(f"{source}: {exc}") from exc
    elif environment == "development":
        log.warning("no %s or %s: sealing with an ephemeral key (development only)", KEY_ENV, KEY_FILE_ENV)
        return Signer(Ed25519PrivateKey.generate(), previous)
    else:
        raise RuntimeError(f"audit: set {KEY_ENV} or {KEY_FILE_ENV} (the Ed25519 key seals are signed with)")
    try:
        return Signer(parse_private(text), previous)
    except ValueError as exc:
        raise RuntimeError(f"{source}: not an Ed25519 private key: {exc}") from exc
