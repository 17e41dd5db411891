"""The signing key's sources (services/audit/signing.py): refused when missing outside development, rotation keeps
earlier keys published, and the signature covers the seal without `signature`."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
import rfc8785
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from services.audit.sealing import signed_seal
from services.audit.signing import KEY_ENV, KEY_FILE_ENV, PREVIOUS_ENV, new_private_text, raw_public, signer_from_env
from tests.audit.seal_helpers import signature_ok

FIELDS = {"stream": "T", "seal_number": 3, "tree_size": 42, "root_hash": "ab" * 32,
          "sealed_at": "2024-01-01T08:00:00+08:00", "trigger": "on_demand"}  # fmt: skip


def test_a_missing_key_stops_the_service_outside_development() -> None:
    with pytest.raises(RuntimeError, match=KEY_ENV):
        signer_from_env("production", {})
    with pytest.raises(RuntimeError, match="not an Ed25519 private key"):
        signer_from_env("production", {KEY_ENV: base64.b64encode(b"short").decode()})
    assert signer_from_env("production", {"TIAODU_SEAL_KEY": new_private_text()}).key_id  # deploy/s name
    with pytest.raises(RuntimeError, match=KEY_FILE_ENV):
        signer_from_env("production", {KEY_FILE_ENV: "/nonexistent/key"})
    assert signer_from_env("development", {}).key_id  # development only: an ephemeral key


def test_the_key_comes_from_a_file_and_rotation_keeps_earlier_keys(tmp_path: Path) -> None:
    old = Ed25519PrivateKey.generate()
    path = tmp_path / "key"
    path.write_text(new_private_text() + "\n")
    previous = base64.b64encode(raw_public(old.public_key())).decode()
    signer = signer_from_env("production", {KEY_FILE_ENV: str(path), PREVIOUS_ENV: previous})
    assert len(signer.keys()) == 2 and signer.key_id in signer.keys()
    published = {k.key_id: base64.b64encode(k.raw).decode() for k in signer.keys().values()}

    seal = signed_seal(signer, {**FIELDS, "key_id": signer.key_id}).model_dump(mode="json")
    assert signature_ok(published[signer.key_id], seal)
    unsigned = {k: v for k, v in seal.items() if k != "signature"}
    assert base64.b64decode(seal["signature"]) == Ed25519PrivateKey.from_private_bytes(
        base64.b64decode(path.read_text())
    ).sign(rfc8785.dumps(unsigned))  # Ed25519 is deterministic: exactly the signature of JCS(seal - signature)
    for field, value in (("trigger", "timer:x"), ("tree_size", 43), ("sealed_at", "2024-01-01T08:00:01+08:00")):
        assert not signature_ok(published[signer.key_id], {**seal, field: value}), field
