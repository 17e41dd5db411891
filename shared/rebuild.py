"""Rebuild a read model from sequence 1 into a fresh schema, and compare two schemas row by row.

A rebuild reads the log through an ordered consumer and applies it in bulk batches; it is how an auditor checks
that today's read models follow from the events, and how a changed projection is deployed beside the live one.
"""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg

from shared.db import ident
from shared.eventstore import EventStore
from shared.names import PROJECTION_GROUP
from shared.projection import Raw, ReadModel, apply_batch, create_schema
from shared.verification import Head, Key


@dataclass
class RebuildResult:
    schema: str
    until_seq: int
    applied: int
    dead_lettered: int


async def rebuild(
    pool: asyncpg.Pool,
    store: EventStore,
    read_model: ReadModel,
    schema: str,
    *,
    until_seq: int | None = None,
    batch: int = 2000,
) -> RebuildResult:
    s = ident(schema)
    async with pool.acquire() as conn:
        await conn.execute(f"DROP SCHEMA IF EXISTS {s} CASCADE")
        await create_schema(conn, s, read_model, store.partitions)
    end = until_seq if until_seq is not None else await store.last_seq()

    async def lookup(key: Key, before_seq: int) -> Head | None:
        # Replaying from sequence 1, every chain's head is known: an unknown one means there is no previous event.
        return None

    applied = parked = 0
    async for chunk in store.read_log(1, until_seq=end, batch=batch):
        raws = [Raw(seq, subject, data) for seq, subject, data in chunk]
        last_per_partition: dict[int, int] = {}
        for raw in raws:
            last_per_partition[int(raw.subject.split(".")[2])] = raw.seq
        async with pool.acquire() as conn, conn.transaction():
            a, p = await apply_batch(conn, s, read_model, raws, lookup)
            applied += a
            parked += p
            await conn.executemany(
                f"UPDATE {s}._checkpoint SET last_seq = $3 WHERE grp = $1 AND partition = $2",
                [(PROJECTION_GROUP, p, seq) for p, seq in last_per_partition.items()],
            )
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
