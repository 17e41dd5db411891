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
from pydantic import BaseModel, ConfigDict, Field, field_validator

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
        return bytes(rfc8785.dumps(self.model_dump(mode="json")))


def hash_document(unsigned: dict[str, Any]) -> str:
    return hashlib.sha256(rfc8785.dumps(unsigned)).hexdigest()


def seal_envelope(fields: dict[str, Any]) -> Envelope:
    """Build an envelope from its fields (everything but `hash`) and compute its hash."""
    draft = Envelope.model_validate({**fields, "hash": ""})
    return draft.model_copy(update={"hash": draft.computed_hash()})


def parse_envelope(data: bytes) -> Envelope:
    """Parse and verify a stored event; raises ValueError with the reason when it is not a sound envelope."""
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
