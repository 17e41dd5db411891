"""What the seal tests share: the signing key they run with, and checks written apart from the service's code."""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

import rfc8785
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from services.audit.signing import KEY_ENV, new_private_text


def key_env() -> tuple[str, str]:
    """A fresh signing key for the audit apps of one test (every replica of it holds the same)."""
    return KEY_ENV, new_private_text()


def event_hash(stored: bytes) -> bytes:
    """An event's 32-byte hash recomputed from its stored bytes (RFC 8785 of the envelope without `hash`)."""
    doc = json.loads(stored)
    doc.pop("hash")
    return hashlib.sha256(rfc8785.dumps(doc)).digest()


def signature_ok(public_key_b64: str, seal: dict[str, Any]) -> bool:
    unsigned = {k: v for k, v in seal.items() if k != "signature"}
    try:
        Ed25519PublicKey.from_public_bytes(base64.b64decode(public_key_b64)).verify(
            base64.b64decode(seal["signature"]), rfc8785.dumps(unsigned)
        )
    except Exception:
        return False
    return True


def resign(seal: dict[str, Any], key: Ed25519PrivateKey) -> dict[str, Any]:
    """The seal signed again with another key (a forger's), key id left as it was."""
    unsigned = {k: v for k, v in seal.items() if k != "signature"}
    return {**unsigned, "signature": base64.b64encode(key.sign(rfc8785.dumps(unsigned))).decode()}
