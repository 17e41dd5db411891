"""The event envelope, exactly as docs/architecture lists it, and its hash.

`hash = sha256(JCS(envelope without "hash"))`, JCS being RFC 8785, so an auditor can recompute it with any
off-the-shelf canonicaliser from the stored JSON alone.
"""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

import rfc8785
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

# Aggregate types and ids become NATS subject tokens, so they are restricted to a safe alphabet.
TOKEN_RE = re.compile(r"^[A-Za-z0-9_-]{1,128}$")
# The only request headers an event may carry (W3C trace context); never `baggage` or anything else a client sends.
TRACE_CONTEXT_KEYS = frozenset({"traceparent", "tracestate"})


class Role(StrEnum):
    HQ = "hq"
    UNIT = "unit"
    LEADER = "leader"
    SUPERVISION = "supervision"
    AUDITOR = "auditor"
    ADMIN = "admin"
    SYSTEM = "system"  # the platform itself (monitoring, bootstrap); never held by a credential


class Actor(BaseModel):
    model_config = ConfigDict(frozen=True)

    org_id: str
    role: Role
    user: str | None = None
    on_behalf_of: str | None = None


class Envelope(BaseModel):
    """One stored event. `payload` is the typed payload dumped to JSON; see shared.catalogue for the types."""

    model_config = ConfigDict(frozen=True)

    id: uuid.UUID
    type: str
    schema_version: int = Field(ge=1)
    aggregate_type: str
    aggregate_id: str
    version: int = Field(ge=1)
    occurred_at: datetime
    recorded_at: datetime
    actor: Actor
    causation_id: str | None = None
    correlation_id: str
    trace_context: dict[str, str] = Field(default_factory=dict)
    prev_hash: str | None
    hash: str
    payload: dict[str, Any]

    @field_validator("aggregate_type", "aggregate_id")
    @classmethod
    def _subject_token(cls, value: str) -> str:
        if not TOKEN_RE.match(value):
            raise ValueError("must match [A-Za-z0-9_-]{1,128}")
        return value

    def unsigned_document(self) -> dict[str, Any]:
        doc = self.model_dump(mode="json")
        doc.pop("hash")
        return doc

    def computed_hash(self) -> str:
        return hash_document(self.unsigned_document())

    def to_bytes(self) -> bytes:
        return canonical_json(self.model_dump(mode="json"))


# JavaScript's safe integers: RFC 8785 serialises numbers as ECMAScript does, exact only up to 2**53 - 1.
_SAFE_INT = 2**53 - 1


def _plain(value: Any) -> bool:
    """True when the standard library's sorted, compact JSON is exactly RFC 8785's for `value`.

    That holds for strings, safe integers, booleans, null, lists and objects with ASCII keys: their escaping is the
    same, and ASCII keys sort the same by code point (Python) as by UTF-16 code unit (RFC 8785). Floats (ECMAScript's
    number formatting) and other keys take the reference implementation.
    """
    if isinstance(value, str) or value is None or isinstance(value, bool):
        return True
    if isinstance(value, int):
        return -_SAFE_INT <= value <= _SAFE_INT
    if isinstance(value, dict):
        return all(isinstance(k, str) and k.isascii() and _plain(v) for k, v in value.items())
    if isinstance(value, list):
        return all(_plain(v) for v in value)
    return False


def canonical_json(doc: dict[str, Any]) -> bytes:
    """RFC 8785 (JCS) bytes of a JSON document: the C encoder where it is provably the same, else `rfc8785`."""
    return _canonical(doc, plain=_plain(doc))


def _canonical(doc: dict[str, Any], *, plain: bool) -> bytes:
    if plain:
        try:
            text = json.dumps(doc, ensure_ascii=False, sort_keys=True, separators=(",", ":"), allow_nan=False)
            return text.encode("utf-8")
        except UnicodeEncodeError:
            pass  # a lone surrogate: the reference implementation says what to do with it
    return bytes(rfc8785.dumps(doc))


def hash_document(unsigned: dict[str, Any]) -> str:
    return hashlib.sha256(canonical_json(unsigned)).hexdigest()


def encode_envelope(fields: dict[str, Any]) -> tuple[Envelope, bytes]:
    """Build an envelope from its fields (everything but `hash`): the envelope and its stored bytes.

    Validated and dumped once; canonicalised once to hash, the stored bytes spliced from those (`with_hash`).
    """
    draft = Envelope.model_validate({**fields, "hash": ""})
    doc = draft.model_dump(mode="json")
    doc.pop("hash")
    unsigned = canonical_json(doc)
    digest = hashlib.sha256(unsigned).hexdigest()
    return draft.model_copy(update={"hash": digest}), with_hash(doc, unsigned, digest)


def with_hash(doc: dict[str, Any], unsigned: bytes, digest: str) -> bytes:
    """JCS of `doc` plus `"hash": digest`, from JCS of `doc` (`unsigned`) without canonicalising the payload again.

    The envelope's own keys are ASCII, so the members that sort before "hash" come first in both documents, the same
    bytes: the hash member goes right after them. Anything unexpected takes the long way."""
    member = b'"hash":' + json.dumps(digest).encode()
    before = {k: v for k, v in doc.items() if k < "hash"}
    if not all(k.isascii() for k in doc) or "hash" in doc:
        return canonical_json({**doc, "hash": digest})
    head = canonical_json(before)[1:-1] if before else b""
    inner = unsigned[1:-1]
    if not inner.startswith(head):
        return canonical_json({**doc, "hash": digest})
    tail = inner[len(head) :].removeprefix(b",")
    return b"{" + b",".join(part for part in (head, member, tail) if part) + b"}"


def seal_envelope(fields: dict[str, Any]) -> Envelope:
    """Build an envelope from its fields (everything but `hash`) and compute its hash."""
    return encode_envelope(fields)[0]


def parse_envelope(data: bytes, *, verify_hash: bool = False) -> Envelope:
    """Parse a stored event; raises ValueError with the reason when it is not a sound envelope.

    The hash is recomputed only with `verify_hash` (audit, a verifying rebuild): an unkeyed hash proves nothing
    against whoever can publish on a subject, so consumers check what does (subject, type, payload, and the chain's
    version and `prev_hash` linkage: shared.verification), while detecting altered bytes is the auditor's job.
    """
    if not verify_hash:
        try:
            return Envelope.model_validate_json(data)
        except ValidationError as exc:
            bad_json = [e for e in exc.errors() if e["type"] == "json_invalid"]
            if bad_json:
                raise ValueError(f"not JSON: {bad_json[0]['msg']}") from None
            raise
    try:
        raw = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"not JSON: {exc}") from exc
    if not isinstance(raw, dict):
        raise ValueError("envelope is not a JSON object")
    envelope = Envelope.model_validate(raw)
    unsigned = dict(raw)
    claimed = unsigned.pop("hash", None)
    if hash_document(unsigned) != claimed:
        raise ValueError("hash does not match the canonical envelope")
    return envelope
