"""The trust boundary every consumer applies before it uses an event (docs/adr/0008).

The stored subject is the truth about which aggregate an event belongs to: NATS permissions decide who may publish
on it, while the envelope is bytes anybody with any publish right could have written. An event is used only if
- it parses and its hash is the hash of its canonical envelope;
- its envelope names the aggregate of the subject it was stored on;
- its type belongs to that aggregate type (the catalogue knows) and its payload is valid at its schema version;
- its `version` and `prev_hash` follow the previous sound event on that subject.
Anything else is parked with the reason and never applied. Each consumer group keeps the head of every chain it has
seen (`_chain`), written in the same transaction as its checkpoint.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple, TypeVar

import asyncpg
from pydantic import BaseModel, ValidationError

from shared.catalogue import CATALOGUE, UnknownEventType
from shared.envelope import parse_envelope
from shared.eventstore import StoredEvent

Key = tuple[str, str]  # (aggregate_type, aggregate_id) as read from the stored subject


class Raw(NamedTuple):
    """A message as the stream holds it: sequence, stored subject, bytes. A tuple: one is made per event read, and a
    tuple is made in half a frozen dataclass's time."""

    seq: int
    subject: str
    data: bytes


@dataclass(frozen=True)
class Head:
    version: int
    hash: str


# Finds the last event stored on a subject before a sequence, for a consumer that has no head for it yet (a consumer
# started mid-log, or a read model created before heads were kept). None: there is none.
LookupHead = Callable[[Key, int], Awaitable[Head | None]]

CHAIN_TABLE = """
CREATE TABLE IF NOT EXISTS {s}._chain (
    grp text NOT NULL, aggregate_type text NOT NULL, aggregate_id text NOT NULL,
    version int NOT NULL, hash text NOT NULL, PRIMARY KEY (grp, aggregate_type, aggregate_id));
"""


@dataclass(frozen=True)
class CheckedEvent(StoredEvent):
    """An event that passed `check_event`, with its payload as the catalogue's type: validated once, used by every
    read-model part (`payload_as`) instead of being validated again by each."""

    payload: BaseModel | None = None


P = TypeVar("P", bound=BaseModel)


def payload_as(event: StoredEvent, model: type[P]) -> P:
    """The event's payload as `model` (upcast to the current schema version): the checked one when there is one."""
    payload = CATALOGUE.payload_of(event)
    if not isinstance(payload, model):
        raise ValueError(f"{event.envelope.type} is not {model.__name__}")
    return payload


class Unsound(ValueError):
    """An event that can never be used; the message is the reason it is parked with."""


def subject_key(subject: str) -> Key:
    parts = subject.split(".")
    if len(parts) != 5 or parts[1] != "evp":
        raise Unsound(f"stored subject {subject!r} is not <prefix>.evp.<partition>.<type>.<id>")
    return parts[3], parts[4]


def check_event(raw: Raw, *, verify_hash: bool = False) -> StoredEvent:
    """Everything that can be checked from the message alone; raises Unsound with the reason.

    The hash is recomputed only with `verify_hash` (an audit, a verifying rebuild): the chain's linkage, which every
    consumer checks, is what a publisher on a subject cannot fake (shared.envelope.parse_envelope)."""
    key = subject_key(raw.subject)
    try:
        envelope = parse_envelope(raw.data, verify_hash=verify_hash)
    except ValueError as exc:  # pydantic's ValidationError too
        raise Unsound(f"unreadable envelope: {exc}") from exc
    if (envelope.aggregate_type, envelope.aggregate_id) != key:
        raise Unsound(
            f"envelope names {envelope.aggregate_type}/{envelope.aggregate_id} but the event is stored on "
            f"{key[0]}/{key[1]}"
        )
    try:
        entry = CATALOGUE.entry(envelope.type)
        if not entry.belongs_to(key[0]):
            raise Unsound(f"{envelope.type} belongs to {entry.aggregate_type}, not to {key[0]}")
        payload = CATALOGUE.load_payload(envelope.type, envelope.schema_version, envelope.payload)
    except UnknownEventType as exc:
        raise Unsound(str(exc)) from exc
    except ValidationError as exc:
        raise Unsound(f"invalid {envelope.type} payload: {exc}") from exc
    return CheckedEvent(raw.seq, raw.subject, envelope, payload=payload)


@dataclass
class Verified:
    sound: list[StoredEvent]
    parked: list[tuple[Raw, str]]
    heads: dict[Key, Head]  # the chain heads this batch moved


async def load_heads(conn: asyncpg.Connection, schema: str, group: str, keys: Sequence[Key]) -> dict[Key, Head]:
    if not keys:
        return {}
    rows = await conn.fetch(
        f"SELECT c.aggregate_type, c.aggregate_id, c.version, c.hash FROM {schema}._chain c"
        " JOIN unnest($2::text[], $3::text[]) AS k(t, i) ON c.aggregate_type = k.t AND c.aggregate_id = k.i"
        " WHERE c.grp = $1",
        group,
        [k[0] for k in keys],
        [k[1] for k in keys],
    )
    return {(r["aggregate_type"], r["aggregate_id"]): Head(r["version"], r["hash"]) for r in rows}


# The heads a batch moved, as one statement's parameters: $1 the group, then one array per column.
SAVE_HEADS = (
    "INSERT INTO {s}._chain (grp, aggregate_type, aggregate_id, version, hash)"
    " SELECT $1, t, i, v, h FROM unnest(${t}::text[], ${i}::text[], ${v}::int[], ${h}::text[]) AS u(t, i, v, h)"
    " ON CONFLICT (grp, aggregate_type, aggregate_id) DO UPDATE SET version = EXCLUDED.version, hash = EXCLUDED.hash"
)


def heads_columns(heads: dict[Key, Head]) -> list[list[Any]]:
    return [[k[0] for k in heads], [k[1] for k in heads], [h.version for h in heads.values()],
            [h.hash for h in heads.values()]]  # fmt: skip


async def save_heads(conn: asyncpg.Connection, schema: str, group: str, heads: dict[Key, Head]) -> None:
    if heads:
        await conn.execute(SAVE_HEADS.format(s=schema, t=2, i=3, v=4, h=5), group, *heads_columns(heads))


def check_all(raws: Sequence[Raw], *, verify_hash: bool = False) -> Verified:
    """What can be checked of each message alone: `sound` holds the events whose chains are still to follow."""
    result = Verified([], [], {})
    for raw in raws:
        try:
            result.sound.append(check_event(raw, verify_hash=verify_hash))
        except Unsound as exc:
            result.parked.append((raw, str(exc)))
    return result


async def follow_chains(checked: Verified, raws: Sequence[Raw], heads: dict[Key, Head], lookup: LookupHead) -> Verified:
    """Keep the events whose version and `prev_hash` follow their chain's head in `heads` (moved as they follow),
    park the others; `lookup` finds a head `heads` lacks. Returns the sound events and the heads they moved."""
    result = Verified([], list(checked.parked), {})
    by_seq = {raw.seq: raw for raw in raws}
    for event in checked.sound:
        env = event.envelope
        key = (env.aggregate_type, env.aggregate_id)  # the stored subject's key: `check_event` saw they are equal
        head = heads[key] if key in heads else (await lookup(key, event.seq) if env.version > 1 else None)
        version, prev_hash = (head.version + 1, head.hash) if head else (1, None)
        if env.version != version:
            reason = f"version {env.version} does not follow {version - 1} on {key[0]}/{key[1]}"
        elif env.prev_hash != prev_hash:
            reason = f"prev_hash does not match the hash of version {version - 1} on {key[0]}/{key[1]}"
        else:
            result.sound.append(event)
            heads[key] = result.heads[key] = Head(env.version, env.hash)
            continue
        result.parked.append((by_seq[event.seq], reason))
    return result


async def verify(
    conn: asyncpg.Connection,
    schema: str,
    group: str,
    raws: Sequence[Raw],
    lookup: LookupHead,
    *,
    known: Mapping[Key, Head] | None = None,
) -> Verified:
    """Check a batch in stream order; the chain heads it moves are returned for `save_heads` with the checkpoint.

    `known`: heads the caller knows to be what `_chain` holds (a partition's holder remembers what it committed);
    only the others are read from the database."""
    checked = check_all(raws)
    keys = {(e.envelope.aggregate_type, e.envelope.aggregate_id) for e in checked.sound}  # their subjects' keys
    heads = {key: known[key] for key in keys if key in known} if known else {}
    heads.update(await load_heads(conn, schema, group, [key for key in keys if key not in heads]))
    return await follow_chains(checked, raws, heads, lookup)
