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
from typing import Annotated, Any

import rfc8785
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError
from pydantic_core import PydanticSerializationError, to_json

# Aggregate types and ids become NATS subject tokens, so they are restricted to a safe alphabet.
TOKEN_RE = re.compile(r"[A-Za-z0-9_-]{1,128}")  # whole strings only: use fullmatch
# Checked by pydantic-core's regex engine (its `$` is the end of the string, never before a final newline).
SubjectToken = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{1,128}$")]
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
    aggregate_type: SubjectToken
    aggregate_id: SubjectToken
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
_NOT_PLAIN = object()


def _sorted_plain(value: Any) -> Any:
    """`value` with every object's members in RFC 8785's order, or `_NOT_PLAIN` when a compact JSON encoder's bytes
    of it might not be RFC 8785's.

    They are the same for strings (pydantic-core's escaping is ECMAScript's, checked for every code point in the
    tests), safe integers, booleans, null, lists and objects with ASCII keys (which sort the same by code point as by
    UTF-16 code unit). Floats (ECMAScript's number formatting) and other keys take the reference implementation.
    One pass both checks and sorts: the check is the cost, the sorting rides along.
    """
    kind = type(value)
    if kind is str or value is None or kind is bool:
        return value
    if kind is int:
        return value if -_SAFE_INT <= value <= _SAFE_INT else _NOT_PLAIN
    if kind is dict:
        try:
            keys = sorted(value)
        except TypeError:  # keys of several types: not JSON this encoder may write
            return _NOT_PLAIN
        out: dict[str, Any] = {}
        for key in keys:
            if type(key) is not str or not key.isascii():
                return _NOT_PLAIN
            member = value[key]
            if type(member) is not str and member is not None:  # strings and nulls, most members, need no call
                member = _sorted_plain(member)
                if member is _NOT_PLAIN:
                    return _NOT_PLAIN
            out[key] = member
        return out
    if kind is list:
        items = [v if type(v) is str else _sorted_plain(v) for v in value]
        return _NOT_PLAIN if _NOT_PLAIN in items else items
    return _NOT_PLAIN


def canonical_json(doc: dict[str, Any]) -> bytes:
    """RFC 8785 (JCS) bytes of a JSON document: pydantic-core's encoder where it is provably the same, else
    `rfc8785`."""
    ordered = _sorted_plain(doc)
    if ordered is not _NOT_PLAIN:
        try:
            return to_json(ordered)
        except PydanticSerializationError:
            pass  # a lone surrogate: the reference implementation says what to do with it
    return bytes(rfc8785.dumps(doc))


def hash_document(unsigned: dict[str, Any]) -> str:
    return hashlib.sha256(canonical_json(unsigned)).hexdigest()


def encode_envelope(fields: dict[str, Any]) -> tuple[Envelope, bytes]:
    """Build an envelope from its fields (everything but `hash`): the envelope and its stored bytes.

    Validated and dumped once; ordered once, the unsigned bytes hashed, and the stored bytes encoded from the same
    ordered document with the hash member put in its place (the envelope's own keys are ASCII)."""
    draft = Envelope.model_validate({**fields, "hash": ""})
    doc = draft.model_dump(mode="json")
    doc.pop("hash")
    ordered = _sorted_plain(doc)
    if ordered is _NOT_PLAIN:
        return _encode_by_reference(draft, doc)
    try:
        unsigned = to_json(ordered)
    except PydanticSerializationError:
        return _encode_by_reference(draft, doc)
    digest = hashlib.sha256(unsigned).hexdigest()
    ordered["hash"] = digest
    stored = to_json(dict(sorted(ordered.items())))
    return draft.model_copy(update={"hash": digest}), stored


def _encode_by_reference(draft: Envelope, doc: dict[str, Any]) -> tuple[Envelope, bytes]:
    digest = hashlib.sha256(canonical_json(doc)).hexdigest()
    return draft.model_copy(update={"hash": digest}), canonical_json({**doc, "hash": digest})


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
