"""The projection runner: folds the event log into a service's PostgreSQL schema.

A projection is a consumer group (shared.consumer) named `proj`. Each batch is verified (shared.verification),
applied, and committed with the chain heads and the partition's checkpoint in ONE transaction, fenced by the holder's
epoch: no event is applied twice, skipped, or reordered within an aggregate. A projection can be rebuilt at any
time, so it never causes anything (that is what reactions are for, shared.reactions).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Protocol

import asyncpg

from shared.checkpoints import create_runner_tables, ensure_checkpoints, park
from shared.consumer import TRANSIENT, Batch, PartitionedConsumer
from shared.eventstore import StoredEvent
from shared.names import PROJECTION_GROUP
from shared.telemetry import consumer_span
from shared.verification import LookupHead, Raw, save_heads, verify

__all__ = ["ProjectionRunner", "Raw", "ReadModel", "apply_batch", "create_schema"]

log = logging.getLogger("tiaodu.projection")


class ReadModel(Protocol):
    """A service's read model: its tables, and how a batch of events changes them."""

    @property
    def tables(self) -> Sequence[str]:
        """The tables `diff_schemas` compares; each must have a primary key."""
        ...

    async def create_tables(self, conn: asyncpg.Connection, schema: str) -> None: ...

    async def apply(self, conn: asyncpg.Connection, schema: str, events: Sequence[StoredEvent]) -> None: ...


# Called after a batch is committed; tests use it to crash exactly there.
AfterCommit = Callable[[int, list[Raw]], Awaitable[None]]


async def create_schema(conn: asyncpg.Connection, schema: str, read_model: ReadModel, partitions: int) -> None:
    async with conn.transaction():
        # Replicas start together: serialise DDL so concurrent CREATE IF NOT EXISTS cannot collide.
        await conn.execute("SELECT pg_advisory_xact_lock(hashtext($1))", schema)
        await create_runner_tables(conn, schema)
        await read_model.create_tables(conn, schema)
        await ensure_checkpoints(conn, schema, PROJECTION_GROUP, partitions)


async def apply_batch(
    conn: asyncpg.Connection, schema: str, read_model: ReadModel, raws: Sequence[Raw], lookup: LookupHead
) -> tuple[int, int]:
    """Verify and apply raw events inside the caller's transaction; park what can never be applied.

    Returns (applied, parked). A transient error (connection, deadlock...) propagates: the caller retries the batch.
    """
    checked = await verify(conn, schema, PROJECTION_GROUP, raws, lookup)
    applied = checked.sound
    parked = list(checked.parked)
    try:
        async with conn.transaction():  # a savepoint: a failing batch falls back to one event at a time
            await read_model.apply(conn, schema, applied)
    except TRANSIENT:
        raise
    except Exception:
        applied = []
        by_seq = {raw.seq: raw for raw in raws}
        for event in checked.sound:
            try:
                async with conn.transaction():
                    await read_model.apply(conn, schema, [event])
                applied.append(event)
            except TRANSIENT:
                raise
            except Exception as exc:
                parked.append((by_seq[event.seq], f"apply failed: {type(exc).__name__}: {exc}"))
    # The chain moves with every sound event, applied or not: a read model's bug must not make later events unsound.
    await save_heads(conn, schema, PROJECTION_GROUP, checked.heads)
    await park(conn, schema, PROJECTION_GROUP, parked)
    if applied:
        await conn.executemany(
            f"INSERT INTO {schema}._applied_event (event_id, aggregate_type, aggregate_id, version, seq) "
            "VALUES ($1, $2, $3, $4, $5) ON CONFLICT (event_id) DO NOTHING",
            [
                (e.envelope.id, e.envelope.aggregate_type, e.envelope.aggregate_id, e.envelope.version, e.seq)
                for e in applied
            ],
        )
    return len(applied), len(parked)


class ProjectionRunner(PartitionedConsumer):
    def __init__(self, *, read_model: ReadModel, after_commit: AfterCommit | None = None, **kwargs: Any) -> None:
        super().__init__(group=PROJECTION_GROUP, **kwargs)
        self.read_model = read_model
        self.after_commit = after_commit
        self.committed: list[Callable[[list[Raw]], None]] = []  # told of every committed batch (caches)

    async def setup(self) -> None:
        async with self.pool.acquire() as conn:
            await create_schema(conn, self.schema, self.read_model, self.partitions)

    async def process(self, batch: Batch) -> int:
        async with self.pool.acquire() as conn, conn.transaction():
            checkpoint = await self.lock_checkpoint(conn, batch.partition, batch.epoch)
            fresh = [raw for raw in batch.raws if raw.seq > checkpoint]
            if fresh:
                with consumer_span(
                    f"project {self.service}", batch.headers, partition=batch.partition, first_seq=fresh[0].seq,
                    count=len(fresh),
                ):  # fmt: skip
                    applied, parked = await apply_batch(conn, self.schema, self.read_model, fresh, self.lookup_head)
                await self.save_checkpoint(conn, batch.partition, fresh[-1].seq)
                checkpoint = fresh[-1].seq
        if fresh:
            self.stats.applied += applied
            self.stats.parked += parked
            for listener in self.committed:
                listener(fresh)
        if self.after_commit is not None:
            await self.after_commit(batch.partition, batch.raws)
        return checkpoint

    async def lag(self) -> dict[str, Any]:
        status = await self.status()
        return {"stream_last_seq": await self.store.last_seq(), **status}
