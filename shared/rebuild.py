"""Rebuild a read model from sequence 1 into a fresh schema, and compare two schemas row by row.

A rebuild is how an auditor checks that today's read models follow from the events, and how a changed projection
is deployed beside the live one. It reads the log with batched direct gets (`EventStore.read_log`) in a task of its
own while it folds, so reading and writing overlap; checks every event as a projection does (with
`verify_hashes`, the hash too: an audit); folds batches of thousands of events (`batch`) and writes each with a few bulk
statements in one transaction, with the chain heads it moved, the applied event ids (COPY) and the checkpoints.
The scratch schema is consistent after every batch: a projection could take it over from its checkpoints.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass

import asyncpg

from shared.checkpoints import park
from shared.consumer import TRANSIENT
from shared.db import ident
from shared.eventstore import EventStore, StoredEvent
from shared.names import PROJECTION_GROUP
from shared.projection import ReadModel, apply_one_by_one, create_schema
from shared.tasks import cancel_and_wait
from shared.verification import Head, Key, Raw, Verified, check_all, follow_chains, save_heads


@dataclass
class RebuildResult:
    schema: str
    until_seq: int
    applied: int
    dead_lettered: int


async def _no_earlier_head(key: Key, before_seq: int) -> Head | None:
    # Replaying from sequence 1, every chain's head is known: an unknown one means there is no previous event.
    return None


# Events read per direct-get request, each checked as soon as it arrives: its bytes are still in the CPU's cache
# then (checking a whole batch read earlier made parsing twice as slow in a measurement).
READ_CHUNK = 1000


async def _batches(
    store: EventStore, end: int, size: int, *, verify_hashes: bool
) -> AsyncIterator[tuple[list[Raw], Verified]]:
    """The log up to `end` in batches of about `size`, each read and checked message by message (`check_all`) by a
    task of its own while the caller folds the previous batch; one batch ahead, no more."""
    batches: asyncio.Queue[tuple[list[Raw], Verified] | BaseException | None] = asyncio.Queue(maxsize=1)

    async def read() -> None:
        try:
            raws: list[Raw] = []
            checked = Verified([], [], {})
            async for chunk in store.read_log(1, until_seq=end, batch=READ_CHUNK):
                arrived = [Raw(seq, subject, data) for seq, subject, data in chunk]
                more = check_all(arrived, verify_hash=verify_hashes)
                raws.extend(arrived)
                checked.sound.extend(more.sound)
                checked.parked.extend(more.parked)
                if len(raws) >= size:
                    await batches.put((raws, checked))
                    raws, checked = [], Verified([], [], {})
            if raws:
                await batches.put((raws, checked))
            await batches.put(None)
        except Exception as exc:  # handed to the folding side, which raises it
            await batches.put(exc)

    reader = asyncio.create_task(read())
    try:
        while (item := await batches.get()) is not None:
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        await cancel_and_wait(reader, timeout=5.0)


async def _write(
    conn: asyncpg.Connection,
    schema: str,
    read_model: ReadModel,
    raws: Sequence[Raw],
    sound: Sequence[StoredEvent],
    parked: list[tuple[Raw, str]],
    heads: dict[Key, Head],
) -> int:
    """One batch in the caller's transaction: the read model, the bookkeeping, the checkpoints; returns applied."""
    try:
        async with conn.transaction():  # one savepoint per batch of thousands: a failure falls back to one by one
            await read_model.apply(conn, schema, sound)
        applied = list(sound)
    except TRANSIENT:
        raise
    except Exception:
        applied, failed = await apply_one_by_one(conn, schema, read_model, sound, raws)
        parked.extend(failed)
    await save_heads(conn, schema, PROJECTION_GROUP, heads)
    await park(conn, schema, PROJECTION_GROUP, parked)
    await conn.copy_records_to_table(
        "_applied_event",
        schema_name=schema,
        columns=["event_id", "aggregate_type", "aggregate_id", "version", "seq"],
        records=[
            (e.envelope.id, e.envelope.aggregate_type, e.envelope.aggregate_id, e.envelope.version, e.seq)
            for e in applied
        ],
    )
    last_per_partition: dict[int, int] = {}
    for raw in raws:
        last_per_partition[int(raw.subject.split(".")[2])] = raw.seq
    await conn.execute(
        f"UPDATE {schema}._checkpoint c SET last_seq = u.seq FROM unnest($2::int[], $3::bigint[]) AS u(p, seq)"
        " WHERE c.grp = $1 AND c.partition = u.p",
        PROJECTION_GROUP,
        list(last_per_partition),
        list(last_per_partition.values()),
    )
    return len(applied)


async def rebuild(
    pool: asyncpg.Pool,
    store: EventStore,
    read_model: ReadModel,
    schema: str,
    *,
    until_seq: int | None = None,
    batch: int = 5_000,
    verify_hashes: bool = False,
) -> RebuildResult:
    """Replay the log up to `until_seq` (default: its end now) into `schema`, dropped and created afresh.

    `verify_hashes` recomputes every event's hash (an audit: a hash that does not match parks its event); without
    it, what every consumer checks is checked (subject, type, payload, the chain's version and `prev_hash`)."""
    s = ident(schema)
    async with pool.acquire() as conn:
        await conn.execute(f"DROP SCHEMA IF EXISTS {s} CASCADE")
        await create_schema(conn, s, read_model, store.partitions)
    end = until_seq if until_seq is not None else await store.last_seq()
    heads: dict[Key, Head] = {}  # every chain's head so far: the whole log is replayed, so none is read back
    applied = parked = 0
    async for raws, messages in _batches(store, end, batch, verify_hashes=verify_hashes):
        checked = await follow_chains(messages, raws, heads, _no_earlier_head)
        async with pool.acquire() as conn, conn.transaction():
            applied += await _write(conn, s, read_model, raws, checked.sound, checked.parked, checked.heads)
        parked += len(checked.parked)
    return RebuildResult(s, end, applied, parked)


async def diff_schemas(pool: asyncpg.Pool, read_model: ReadModel, left: str, right: str) -> dict[str, int]:
    """Rows present on one side only, per table (empty dict: identical)."""
    a, b = ident(left), ident(right)
    differences: dict[str, int] = {}
    async with pool.acquire() as conn:
        for table in read_model.tables:
            t = ident(table)
            count = await conn.fetchval(
                f"SELECT (SELECT count(*) FROM (TABLE {a}.{t} EXCEPT ALL TABLE {b}.{t}) x)"
                f" + (SELECT count(*) FROM (TABLE {b}.{t} EXCEPT ALL TABLE {a}.{t}) y)"
            )
            if count:
                differences[t] = int(count)
    return differences
