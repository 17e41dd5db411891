"""A rebuilt read model swapped in for the live one without downtime (docs/adr/0034).

A rebuild (shared.rebuild) folds the log into a scratch schema beside the live one while the services keep
serving from the live one. `swap_in` then replaces, in one transaction, every table the rebuild built (the read
model's tables and `_applied_event`) by the rebuilt one, and the projection's bookkeeping rows (its checkpoints,
chain heads and parked events; other consumer groups' rows are untouched) by the rebuild's:

- readers never see a missing or half-swapped table: the old table is dropped and the new one moved into the live
  schema under the same name in the same transaction; a read running meanwhile finishes first, one arriving
  meanwhile waits (milliseconds) for the commit, then reads the new table (PostgreSQL re-plans a prepared statement
  whose table was dropped, resolving the name again);
- the live projection loses nothing and applies nothing twice: each checkpoint row takes the rebuild's position
  with the epoch moved past the live holder's, so the holder's next commit is fenced (shared.consumer), and the
  partition is claimed again from the rebuild's position, applying what arrived since the rebuild's end.

Tables only the live schema has (a reaction's or a timer's state) stay as they are.
"""

from __future__ import annotations

import logging

import asyncpg

from shared.consumer import TRANSIENT
from shared.db import ident
from shared.names import PROJECTION_GROUP

log = logging.getLogger("tiaodu.rebuild")

# Kept per consumer group in the live schema: only the projection's rows are replaced.
BOOKKEEPING = ("_checkpoint", "_chain", "_dead_letter")
SWAP_ATTEMPTS = 5  # a deadlock with a projection batch (it holds a table the swap waits for) aborts one of the two


async def swap_in(pool: asyncpg.Pool, live: str, scratch: str) -> list[str]:
    """Replace the live schema's rebuilt tables by the scratch schema's, then drop the scratch schema; returns the
    tables swapped."""
    for attempt in range(1, SWAP_ATTEMPTS + 1):
        try:
            async with pool.acquire() as conn, conn.transaction():
                return await _swap(conn, ident(live), ident(scratch))
        except TRANSIENT as exc:
            if attempt == SWAP_ATTEMPTS:
                raise
            log.warning("swap of %s into %s failed (%s); attempt %s of %s", scratch, live, exc, attempt + 1,
                        SWAP_ATTEMPTS)  # fmt: skip
    raise AssertionError("unreachable")


async def _swap(conn: asyncpg.Connection, live: str, scratch: str) -> list[str]:
    tables = [
        r["tablename"]
        for r in await conn.fetch(
            "SELECT tablename FROM pg_tables WHERE schemaname = $1 AND NOT (tablename = ANY($2::text[]))"
            " ORDER BY tablename",
            scratch,
            list(BOOKKEEPING),
        )
    ]
    if not tables:
        raise ValueError(f"{scratch}: no rebuilt table to swap in")
    # Everything the projection writes, locked first and in one order: its batches wait for the swap, never the
    # reverse halfway through.
    names = ", ".join(f"{live}.{ident(t)}" for t in ["_checkpoint", *tables])
    await conn.execute(f"LOCK TABLE {names} IN ACCESS EXCLUSIVE MODE")
    for table in tables:
        t = ident(table)
        await conn.execute(f"DROP TABLE IF EXISTS {live}.{t}")
        await conn.execute(f"ALTER TABLE {scratch}.{t} SET SCHEMA {live}")
    for table in ("_chain", "_dead_letter"):
        columns = ", ".join(
            ident(r["column_name"])
            for r in await conn.fetch(
                "SELECT column_name FROM information_schema.columns WHERE table_schema = $1 AND table_name = $2"
                " ORDER BY ordinal_position",
                scratch,
                table,
            )
        )
        await conn.execute(f"DELETE FROM {live}.{table} WHERE grp = $1", PROJECTION_GROUP)
        await conn.execute(
            f"INSERT INTO {live}.{table} ({columns}) SELECT {columns} FROM {scratch}.{table} WHERE grp = $1",
            PROJECTION_GROUP,
        )
    # The rebuild's position, and an epoch no live holder has: its next commit is fenced, and it claims again.
    await conn.execute(
        f"UPDATE {live}._checkpoint AS l SET last_seq = s.last_seq, epoch = l.epoch + 1"
        f" FROM {scratch}._checkpoint AS s WHERE l.grp = $1 AND s.grp = $1 AND l.partition = s.partition",
        PROJECTION_GROUP,
    )
    await conn.execute(f"DROP SCHEMA {scratch} CASCADE")
    log.info("swapped %s into %s: %s", scratch, live, ", ".join(tables))
    return tables
