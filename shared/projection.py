"""The projection runner: folds the event log into a service's PostgreSQL schema.

A projection is a consumer group (shared.consumer) named `proj`. Each batch is verified (shared.verification),
applied, and committed with the chain heads and the partition's checkpoint in ONE transaction, fenced by the holder's
epoch: no event is applied twice, skipped, or reordered within an aggregate. A projection can be rebuilt at any
time, so it never causes anything (that is what reactions are for, shared.reactions).

A batch costs few round trips (BEGIN, the read model's statements, one bookkeeping statement, COMMIT): the holder
remembers the chain heads it committed since it took the partition, so it reads only heads it has not seen; the read
model applies the batch with no savepoint; and one statement moves the checkpoint, guarded by the epoch and the
checkpoint the batch follows, with the heads and the applied event ids. Anything unusual (a read-model failure, a
checkpoint that is not where the holder left it) rolls the batch back and takes the careful path: lock the
checkpoint, read the heads, apply event by event under savepoints, park what fails.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import asyncpg

from shared.checkpoints import create_runner_tables, ensure_checkpoints, ids_for_commands, park
from shared.consumer import TRANSIENT, Batch, PartitionedConsumer
from shared.eventstore import StoredEvent
from shared.names import PROJECTION_GROUP
from shared.telemetry import consumer_span
from shared.verification import Head, Key, Raw, heads_columns, verify

__all__ = ["ProjectionRunner", "Raw", "ReadModel", "apply_one_by_one", "create_schema"]

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


DDL_ATTEMPTS = 5


async def create_schema(conn: asyncpg.Connection, schema: str, read_model: ReadModel, partitions: int) -> None:
    for attempt in range(1, DDL_ATTEMPTS + 1):
        try:
            async with conn.transaction():
                # Replicas start together: serialise DDL so concurrent CREATE IF NOT EXISTS cannot collide.
                await conn.execute("SELECT pg_advisory_xact_lock(hashtext($1))", schema)
                await create_runner_tables(conn, schema)
                await read_model.create_tables(conn, schema)
                await ensure_checkpoints(conn, schema, PROJECTION_GROUP, partitions)
            return
        except asyncpg.exceptions.DeadlockDetectedError:
            # CREATE ... IF NOT EXISTS still locks existing tables, so a process starting beside a running
            # projection (an API process beside its worker) can deadlock with a batch; the batch retries, so do we.
            if attempt == DDL_ATTEMPTS:
                raise
            log.warning("%s: schema setup deadlocked with a running batch; attempt %s of %s", schema, attempt + 1,
                        DDL_ATTEMPTS)  # fmt: skip
            await asyncio.sleep(0.2 * attempt)


# One statement records a batch: moves the checkpoint (only for the holder's epoch and, when $5 is given, only from the
# checkpoint the batch follows), and saves the chain heads and the ids of the applied events.
RECORD_BATCH = """
WITH checkpoint AS (
    UPDATE {s}._checkpoint SET last_seq = $3
    WHERE grp = $1 AND partition = $2 AND epoch = $4 AND ($5::bigint IS NULL OR last_seq = $5) RETURNING 1
), heads AS (
    INSERT INTO {s}._chain (grp, aggregate_type, aggregate_id, version, hash)
    SELECT $1, t, i, v, h FROM unnest($6::text[], $7::text[], $8::int[], $9::text[]) AS u(t, i, v, h)
    ON CONFLICT (grp, aggregate_type, aggregate_id) DO UPDATE SET version = EXCLUDED.version, hash = EXCLUDED.hash
), applied AS (
    INSERT INTO {s}._applied_event (event_id, aggregate_type, aggregate_id, version, seq)
    SELECT * FROM unnest($10::uuid[], $11::text[], $12::text[], $13::int[], $14::bigint[])
    ON CONFLICT (event_id) DO NOTHING
)
SELECT count(*) FROM checkpoint
"""

# Remembered chain heads per partition are dropped beyond this many (then read again from `_chain` as needed).
MAX_KNOWN_HEADS = 100_000


class CarefulPath(Exception):
    """The fast path cannot commit this batch as it is: roll it back and take the careful path."""


async def apply_one_by_one(
    conn: asyncpg.Connection, schema: str, read_model: ReadModel, events: Sequence[StoredEvent], raws: Sequence[Raw]
) -> tuple[list[StoredEvent], list[tuple[Raw, str]]]:
    """Apply each event under its own savepoint: (applied, parked with the reason). Transient errors propagate."""
    by_seq = {raw.seq: raw for raw in raws}
    applied: list[StoredEvent] = []
    failed: list[tuple[Raw, str]] = []
    for event in events:
        try:
            async with conn.transaction():
                await read_model.apply(conn, schema, [event])
            applied.append(event)
        except TRANSIENT:
            raise
        except Exception as exc:
            failed.append((by_seq[event.seq], f"apply failed: {type(exc).__name__}: {exc}"))
    return applied, failed


async def record_batch(
    conn: asyncpg.Connection,
    schema: str,
    batch: Batch,
    last_seq: int,
    heads: dict[Key, Head],
    applied: Sequence[StoredEvent],
    *,
    guarded: bool,
) -> bool:
    """Move the checkpoint to `last_seq` with the heads and applied ids; False if the guard refused (nothing moved).

    The chain moves with every sound event, applied or not: a read model's bug must not make later events unsound."""
    envelopes = [e.envelope for e in applied]
    moved = await conn.fetchval(
        RECORD_BATCH.format(s=schema),
        PROJECTION_GROUP,
        batch.partition,
        last_seq,
        batch.epoch,
        batch.after_seq if guarded else None,
        *heads_columns(heads),
        [env.id for env in envelopes],
        [env.aggregate_type for env in envelopes],
        [env.aggregate_id for env in envelopes],
        [env.version for env in envelopes],
        [e.seq for e in applied],
    )
    return bool(moved)


@dataclass(frozen=True)
class Committed:
    checkpoint: int
    applied: int
    parked: int
    heads: dict[Key, Head]
    raws: list[Raw]  # the batch's events this commit used (none: all were committed before)


class ProjectionRunner(PartitionedConsumer):
    def __init__(self, *, read_model: ReadModel, after_commit: AfterCommit | None = None, **kwargs: Any) -> None:
        super().__init__(group=PROJECTION_GROUP, **kwargs)
        self.read_model = read_model
        self.after_commit = after_commit
        self.ids_for_commands = ids_for_commands(self.service)
        self.committed: list[Callable[[list[Raw]], None]] = []  # told of every committed batch (caches)
        # Per partition: the chain heads this holder committed since it took the partition; `_chain` holds the same
        # for these keys, because only the holder of the epoch commits there.
        self.known_heads: dict[int, dict[Key, Head]] = {}

    async def setup(self) -> None:
        async with self.pool.acquire() as conn:
            await create_schema(conn, self.schema, self.read_model, self.partitions)

    def claimed(self, partition: int) -> None:
        self.known_heads[partition] = {}

    async def process(self, batch: Batch) -> int:
        known = self.known_heads.setdefault(batch.partition, {})
        try:
            done = await self._commit(batch, known)
        except BaseException:
            # A failure may come after the commit (the answer to COMMIT lost): what was committed is not known.
            known.clear()
            raise
        if len(known) + len(done.heads) > MAX_KNOWN_HEADS:
            known.clear()
        known.update(done.heads)
        if done.raws:
            self.stats.applied += done.applied
            self.stats.parked += done.parked
            for listener in self.committed:
                listener(done.raws)
        if self.after_commit is not None:
            await self.after_commit(batch.partition, batch.raws)
        return done.checkpoint

    async def _commit(self, batch: Batch, known: dict[Key, Head]) -> Committed:
        async with self.pool.acquire() as conn:
            with consumer_span(
                f"project {self.service}", batch.headers, partition=batch.partition, first_seq=batch.raws[0].seq,
                count=len(batch.raws),
            ):  # fmt: skip
                if batch.raws[0].seq > batch.after_seq:
                    try:
                        async with conn.transaction():
                            return await self._fast(conn, batch, known)
                    except CarefulPath:
                        self.stats.careful += 1
                async with conn.transaction():
                    return await self._careful(conn, batch)

    async def _fast(self, conn: asyncpg.Connection, batch: Batch, known: dict[Key, Head]) -> Committed:
        checked = await verify(conn, self.schema, PROJECTION_GROUP, batch.raws, self.lookup_head, known=known)
        try:
            await self.read_model.apply(conn, self.schema, checked.sound)
        except TRANSIENT:
            raise
        except Exception as exc:
            raise CarefulPath from exc  # the transaction is spoilt: roll back, then one event at a time
        last = batch.raws[-1].seq
        await park(conn, self.schema, PROJECTION_GROUP, checked.parked)
        ids = self.ids_for_commands(checked.sound)
        if not await record_batch(conn, self.schema, batch, last, checked.heads, ids, guarded=True):
            raise CarefulPath  # fenced, or the checkpoint moved (a commit whose answer was lost): find out which
        return Committed(last, len(checked.sound), len(checked.parked), checked.heads, batch.raws)

    async def _careful(self, conn: asyncpg.Connection, batch: Batch) -> Committed:
        checkpoint = await self.lock_checkpoint(conn, batch.partition, batch.epoch)
        fresh = [raw for raw in batch.raws if raw.seq > checkpoint]
        if not fresh:
            return Committed(checkpoint, 0, 0, {}, [])
        checked = await verify(conn, self.schema, PROJECTION_GROUP, fresh, self.lookup_head)
        applied, failed = await apply_one_by_one(conn, self.schema, self.read_model, checked.sound, fresh)
        parked = [*checked.parked, *failed]
        await park(conn, self.schema, PROJECTION_GROUP, parked)
        ids = self.ids_for_commands(applied)
        await record_batch(conn, self.schema, batch, fresh[-1].seq, checked.heads, ids, guarded=False)
        return Committed(fresh[-1].seq, len(applied), len(parked), checked.heads, fresh)

    async def lag(self) -> dict[str, Any]:
        status = await self.status()
        return {"stream_last_seq": await self.store.last_seq(), **status}
