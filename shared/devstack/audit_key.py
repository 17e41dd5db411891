"""`make run`'s audit signing key: made once into `.run/audit-signing-key` (mode 0600), handed to the audit service
only (TIAODU_AUDIT_SIGNING_KEY_FILE), so that every audit replica and every restart signs seals with the same key."""

from __future__ import annotations

import base64
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from shared.devstack.files import write_private

KEY_FILE = "audit-signing-key"
KEY_FILE_ENV = "TIAODU_AUDIT_SIGNING_KEY_FILE"  # read by services/audit/signing.py


def signing_key_env(run_dir: Path) -> dict[str, str]:
    path = run_dir / KEY_FILE
    if not path.exists():
        seed = Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
        )
        write_private(path, base64.b64encode(seed).decode() + "\n")
    return {KEY_FILE_ENV: str(path)}
