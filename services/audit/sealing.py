"""Making a seal: the tree over the log up to its end, its root signed, appended as `LogSealed` (docs/adr/0030).

One sealer at a time (a PostgreSQL advisory lock held for the run; the seal chain's expected sequence would catch a
second one anyway). The `seals` table lists the seals made; it is caught up from the seal chain's tail before every
use, so a sealer that died between its append and its row leaves nothing missing.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import asyncpg
import rfc8785

from services.audit import tree_store
from services.audit.signing import Signer
from shared.catalogue.audit import SEAL_AGGREGATE, SEAL_CHAIN_ID, LogSealed
from shared.clock import Clock
from shared.envelope import Actor, Role
from shared.eventstore import Context, EventStore, Position, StoredEvent

SEALS = "seals"
SEALER = Actor(org_id="platform", role=Role.SYSTEM, user="audit:sealer")
SEAL_NAMESPACE = uuid.UUID("0d3c5c1e-5f55-4b9c-93a8-3f0c2a7e5a30")

DDL = f"""
CREATE TABLE IF NOT EXISTS {{s}}.{SEALS} (
    seal_number int PRIMARY KEY, seq bigint NOT NULL UNIQUE, hash text NOT NULL, tree_size bigint NOT NULL,
    root_hash text NOT NULL, trigger text NOT NULL, sealed_at text NOT NULL, seal jsonb NOT NULL);
"""


@dataclass(frozen=True)
class SealRecord:
    seq: int  # the seal event's own stream sequence
    hash: str  # the seal event's hash (the seal chain's head)
    seal: LogSealed

    def position(self) -> Position:
        return Position(self.seal.seal_number, self.seq, self.hash)


@dataclass(frozen=True)
class Sealer:
    """What sealing needs: the log, the audit schema, the clock and the key; and a bounded wait until the event index
    reaches a sequence (the leaves are read from it; what it lacks is read from the log, slower but the same)."""

    store: EventStore
    pool: asyncpg.Pool
    schema: str
    clock: Clock
    signer: Signer
    index_reached: Callable[[int], Awaitable[bool]]


async def create_tables(conn: asyncpg.Connection, schema: str) -> None:
    await conn.execute(DDL.format(s=schema))
    await tree_store.create_tables(conn, schema)


def _record(row: asyncpg.Record) -> SealRecord:
    return SealRecord(row["seq"], row["hash"], LogSealed.model_validate_json(row["seal"]))


async def _insert(conn: asyncpg.Connection, schema: str, record: SealRecord) -> None:
    s = record.seal
    await conn.execute(
        f"INSERT INTO {schema}.{SEALS} (seal_number, seq, hash, tree_size, root_hash, trigger, sealed_at, seal)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (seal_number) DO NOTHING",
        s.seal_number, record.seq, record.hash, s.tree_size, s.root_hash, s.trigger, s.sealed_at,
        s.model_dump_json(),
    )  # fmt: skip


async def catch_up(conn: asyncpg.Connection, schema: str, store: EventStore) -> SealRecord | None:
    """The newest seal, after adding to `seals` what the seal chain holds beyond it (usually nothing)."""
    row = await conn.fetchrow(f"SELECT * FROM {schema}.{SEALS} ORDER BY seal_number DESC LIMIT 1")
    last = _record(row) if row else None
    for event in await store.read_aggregate(SEAL_AGGREGATE, SEAL_CHAIN_ID, after_seq=last.seq if last else 0):
        last = SealRecord(event.seq, event.envelope.hash, LogSealed.model_validate(event.envelope.payload))
        await _insert(conn, schema, last)
    return last


async def seal_by_number(conn: asyncpg.Connection, schema: str, number: int) -> SealRecord | None:
    row = await conn.fetchrow(f"SELECT * FROM {schema}.{SEALS} WHERE seal_number = $1", number)
    return _record(row) if row else None


async def list_seals(conn: asyncpg.Connection, schema: str, *, after: int, limit: int) -> list[SealRecord]:
    rows = await conn.fetch(
        f"SELECT * FROM {schema}.{SEALS} WHERE seal_number > $1 ORDER BY seal_number LIMIT $2", after, limit
    )
    return [_record(r) for r in rows]


def signed_seal(signer: Signer, fields: dict[str, Any]) -> LogSealed:
    """The seal with its signature: Ed25519 over the RFC 8785 JSON of everything else."""
    unsigned: dict[str, Any] = LogSealed.model_validate({**fields, "signature": ""}).signed_document()
    return LogSealed.model_validate({**unsigned, "signature": signer.sign(bytes(rfc8785.dumps(unsigned)))})


async def seal(sealer: Sealer, *, trigger: str, actor: Actor = SEALER) -> tuple[SealRecord | None, bool]:
    """Seal the log up to its end: (the seal, True when this call made it). Nothing new since the newest seal (the
    log ends with it) or a timer period already sealed: that seal, False."""
    async with sealer.pool.acquire() as conn, conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock(hashtext($1))", f"{sealer.schema}.sealer")
        last = await catch_up(conn, sealer.schema, sealer.store)
        if last and trigger.startswith("timer:") and last.seal.trigger == trigger:
            return last, False
        size = await sealer.store.last_seq()
        if size == 0 or (last and size == last.seq):
            return last, False
        await sealer.index_reached(size)
        frontier = await tree_store.grow(conn, sealer.schema, sealer.store, size)
        number = last.seal.seal_number + 1 if last else 1
        made = signed_seal(sealer.signer, {
            "stream": sealer.store.stream, "seal_number": number, "tree_size": size,
            "root_hash": frontier.root().hex(), "sealed_at": sealer.clock.now().isoformat(),
            "key_id": sealer.signer.key_id, "trigger": trigger,
        })  # fmt: skip
        event_id = uuid.uuid5(SEAL_NAMESPACE, f"{sealer.store.stream}:{trigger}") if trigger.startswith("timer:") \
            else None  # fmt: skip
        stored: StoredEvent = await sealer.store.append(
            SEAL_AGGREGATE, SEAL_CHAIN_ID, made,
            expected=last.position() if last else Position(),
            context=Context(actor=actor, correlation_id=f"seal-{number}"),
            event_id=event_id,
        )  # fmt: skip
        record = SealRecord(stored.seq, stored.envelope.hash, LogSealed.model_validate(stored.envelope.payload))
        await _insert(conn, sealer.schema, record)
        return record, not stored.duplicate
