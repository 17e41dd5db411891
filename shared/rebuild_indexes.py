"""Indexes a rebuild does without while it loads, built once at its end (docs/adr/0019).

A rebuild writes a million rows into fresh tables. Keeping an index current row by row costs PostgreSQL a descent of
the tree per row, into random pages when the key is random (`_applied_event`'s event ids, a report's project and
period); building the same index once from the loaded table is one sort. While folding, a rebuild needs only the
unique indexes: its upserts (`ON CONFLICT`) and its reads of earlier rows (by id) go through them, and they keep
enforcing what they enforce. Partial indexes stay too: each covers the few rows its predicate names (the year-end
facts of issues, of 督办 orders, of registrations: thousands of a million), which cost little to index as they come,
while building one at the end scans the whole table for them (scheduling's five took PostgreSQL 0.9 s after a
1M-event rebuild, measured one by one; ~2% of the rebuild's CPU). So the scratch schema is prepared without
- every index that is neither unique, nor partial, nor a constraint's (lists and filters the API reads), and
- the primary key of `_applied_event`, which a rebuild only appends to by COPY (each sequence is read once,
  `shared.rebuild.check_whole`), while the live projection needs it for `ON CONFLICT (event_id)`;
and each one dropped is noted, with the statement that makes it again, in `_deferred_index` of the same schema, so
that the end of the rebuild (`restore_indexes`) builds exactly what the read model declares, also when the drop and
the build happen in different processes. A rebuild that stops before its end leaves that table behind: the schema is
not one to take over then, and the next rebuild drops it anyway.
"""

from __future__ import annotations

import asyncio

import asyncpg

# The statement that makes each dropped index again, as PostgreSQL itself writes it.
DEFERRABLE = """
SELECT c.relname AS name, format('ALTER TABLE %s ADD CONSTRAINT %I %s', t.oid::regclass, k.conname,
       pg_get_constraintdef(k.oid)) AS definition, format('ALTER TABLE %s DROP CONSTRAINT %I', t.oid::regclass,
       k.conname) AS drop
FROM pg_constraint k JOIN pg_class t ON t.oid = k.conrelid JOIN pg_class c ON c.oid = k.conindid
WHERE t.relnamespace = $1::regnamespace AND t.relname = '_applied_event' AND k.contype = 'p'
UNION ALL
SELECT c.relname, pg_get_indexdef(i.indexrelid), format('DROP INDEX %s', i.indexrelid::regclass)
FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
WHERE c.relnamespace = $1::regnamespace AND NOT i.indisunique AND i.indpred IS NULL
  AND NOT EXISTS (SELECT 1 FROM pg_constraint x WHERE x.conindid = i.indexrelid)  -- an exclusion constraint's: kept
"""

DEFERRED_TABLE = "CREATE TABLE {s}._deferred_index (name text PRIMARY KEY, definition text NOT NULL)"


async def defer_indexes(conn: asyncpg.Connection, schema: str) -> list[str]:
    """Drop the indexes a rebuild of `schema` (just created, still empty) does without; returns their names."""
    async with conn.transaction():
        found = await conn.fetch(DEFERRABLE, schema)
        await conn.execute(DEFERRED_TABLE.format(s=schema))
        await conn.executemany(
            f"INSERT INTO {schema}._deferred_index (name, definition) VALUES ($1, $2)",
            [(r["name"], r["definition"]) for r in found],
        )
        for row in found:
            await conn.execute(row["drop"])
    return [r["name"] for r in found]


async def restore_indexes(pool: asyncpg.Pool, schema: str) -> list[str]:
    """Build every index `defer_indexes` dropped from `schema`, each from the loaded table, as many at once as the
    pool has connections (the folding is over, its cores are free); returns their names. Each index is built and
    struck off `_deferred_index` in one transaction, so a failed restore can be run again for what is left."""
    async with pool.acquire() as conn:
        rows = await conn.fetch(f"SELECT name, definition FROM {schema}._deferred_index ORDER BY name")

    async def build(name: str, definition: str) -> None:
        async with pool.acquire() as conn, conn.transaction():
            # One sort per index over a million rows: give it the memory to sort in one pass.
            await conn.execute("SET LOCAL maintenance_work_mem = '128MB'")
            await conn.execute(definition)
            await conn.execute(f"DELETE FROM {schema}._deferred_index WHERE name = $1", name)

    async with asyncio.TaskGroup() as group:
        for row in rows:
            group.create_task(build(row["name"], row["definition"]))
    async with pool.acquire() as conn:
        await conn.execute(f"DROP TABLE {schema}._deferred_index")
    return [r["name"] for r in rows]
