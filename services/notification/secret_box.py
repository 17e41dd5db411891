"""Signing secrets of contact points (a webhook's, a robot's) never enter the log in clear: they are sealed with
AES-GCM under the notification service's key before the event is written, and only the delivery engine opens them.
Answers and logs show the hint alone.

The key is 32 bytes, base64 in TIAODU_NOTIFICATION_KEY. Outside development the service refuses to start without
one; in development (make run, tests) a fixed development key stands in, so that secrets sealed by one run open in
the next.
"""

from __future__ import annotations

import base64
import hashlib
import os
from dataclasses import dataclass

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from shared.catalogue.notification import SealedSecret

KEY_ENV = "TIAODU_NOTIFICATION_KEY"
NONCE_BYTES = 12
_DEVELOPMENT_KEY = hashlib.sha256(b"tiaodu notification development key (never in a deployment)").digest()


class MissingKey(RuntimeError):
    pass


@dataclass(frozen=True)
class SecretBox:
    key: bytes

    @classmethod
    def from_env(cls, environment: str) -> SecretBox:
        raw = os.environ.get(KEY_ENV)
        if raw:
            key = base64.b64decode(raw)
            if len(key) != 32:
                raise MissingKey(f"{KEY_ENV} must be 32 bytes in base64, got {len(key)} bytes")
            return cls(key)
        if environment != "development":
            raise MissingKey(f"{KEY_ENV} is not set: contact points' secrets cannot be sealed")
        return cls(_DEVELOPMENT_KEY)

    def seal(self, secret: str, bound_to: str) -> SealedSecret:
        """`bound_to` (`binding`) is authenticated with it: a sealed secret copied to another contact point does not
        open there."""
        nonce = os.urandom(NONCE_BYTES)
        sealed = nonce + AESGCM(self.key).encrypt(nonce, secret.encode(), bound_to.encode())
        return SealedSecret(sealed=base64.b64encode(sealed).decode(), hint=hint(secret))

    def open(self, sealed: SealedSecret, bound_to: str) -> str:
        raw = base64.b64decode(sealed.sealed)
        nonce, ciphertext = raw[:NONCE_BYTES], raw[NONCE_BYTES:]
        return AESGCM(self.key).decrypt(nonce, ciphertext, bound_to.encode()).decode()


def hint(secret: str) -> str:
    """What an answer may show of a secret: its last four characters, and only of a long one."""
    return "****" + (secret[-4:] if len(secret) >= 16 else "")


def binding(org_id: str, contact_point_id: str) -> str:
    return f"{org_id}/{contact_point_id}"
