"""A process starting beside a running projection sets up its schema without waiting for (or deadlocking with) the
projection's batches: against a real PostgreSQL, a transaction holds the lock a batch holds on every table of the read
model while the schema set-up runs again, under a lock timeout that would fail any statement that had to wait."""

from __future__ import annotations

import asyncpg

from services.intake import bootstrap as intake
from services.scheduling import bootstrap as scheduling
from shared.ddl import lock_free_when_done
from shared.projection import create_schema
from shared.settings import Settings


def test_indexes_and_added_columns_are_guarded_by_a_catalogue_check() -> None:
    sql = lock_free_when_done(
        "CREATE TABLE IF NOT EXISTS s.t (a int);"
        "CREATE INDEX IF NOT EXISTS t_a ON s.t (a);"
        "ALTER TABLE s.t ADD COLUMN IF NOT EXISTS b text NOT NULL DEFAULT 'x';"
    )
    assert sql.startswith("CREATE TABLE IF NOT EXISTS s.t (a int);")
    assert "IF to_regclass('s.t_a') IS NULL THEN CREATE INDEX IF NOT EXISTS t_a ON s.t (a); END IF;" in sql
    assert "column_name = 'b') THEN ALTER TABLE s.t ADD COLUMN IF NOT EXISTS b text NOT NULL DEFAULT 'x';" in sql


async def test_schema_setup_beside_a_running_batch_takes_no_table_lock(settings: Settings) -> None:
    for read_model, schema in ((intake.read_model(), "intake"), (scheduling.read_model(), "scheduling")):
        first = await asyncpg.connect(settings.database_url)
        batch = await asyncpg.connect(settings.database_url)
        again = await asyncpg.connect(settings.database_url)
        try:
            await create_schema(first, schema, read_model, 4)
            tables = [
                r["tablename"]
                for r in await first.fetch("SELECT tablename FROM pg_tables WHERE schemaname = $1", schema)
            ]
            assert len(tables) > 5, tables
            async with batch.transaction():  # what a batch holds while it writes: ROW EXCLUSIVE on what it touches
                for table in tables:
                    await batch.execute(f"LOCK TABLE {schema}.{table} IN ROW EXCLUSIVE MODE")
                await again.execute("SET lock_timeout = '500ms'")
                await create_schema(again, schema, read_model, 4)  # lock_timeout fails any statement that waits
        finally:
            for conn in (first, batch, again):
                await conn.close()
