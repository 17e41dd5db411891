"""The tables every consumer group keeps beside its read model, in its service's schema.

- `_checkpoint` (group, partition): the last stream sequence used and the epoch of the holder (shared.consumer);
- `_chain` (group, aggregate): the head of every hash chain the group has seen (shared.verification);
- `_dead_letter` (group, seq): what the group parked, with the reason and the bytes;
- `_applied_event`: the id of every event of the service's own aggregates the projection applied, for idempotent
  commands (shared.commands).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

import asyncpg

from shared.catalogue.ownership import own_aggregates
from shared.ddl import lock_free_when_done
from shared.eventstore import StoredEvent
from shared.verification import CHAIN_TABLE, Raw

log = logging.getLogger("tiaodu.consumer")


def ids_for_commands(service: str) -> Callable[[Sequence[StoredEvent]], Sequence[StoredEvent]]:
    """Which applied events `_applied_event` keeps: those of the aggregate types `service` appends.

    A command's id (a client's idempotency key, a reaction's derived id) only ever names an event of its own service's
    aggregates (shared.commands.already_applied), while a read model folds every service's events: keeping all of them
    cost scheduling's, issue coordination's, notification's and audit's projections a row per event of the whole log.
    A service the ownership table does not know (a test's) keeps every id."""
    own = own_aggregates(service)
    if own is None:
        return lambda events: events
    return lambda events: [e for e in events if e.envelope.aggregate_type in own]


RUNNER_TABLES = """
CREATE TABLE IF NOT EXISTS {s}._checkpoint (
    grp text NOT NULL DEFAULT 'proj', partition int NOT NULL, last_seq bigint NOT NULL DEFAULT 0,
    epoch bigint NOT NULL DEFAULT 0, PRIMARY KEY (grp, partition));
CREATE TABLE IF NOT EXISTS {s}._dead_letter (
    grp text NOT NULL DEFAULT 'proj', seq bigint NOT NULL, subject text NOT NULL, reason text NOT NULL,
    data bytea NOT NULL, parked_at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (grp, seq));
CREATE TABLE IF NOT EXISTS {s}._applied_event (
    event_id uuid PRIMARY KEY, aggregate_type text NOT NULL, aggregate_id text NOT NULL,
    version int NOT NULL, seq bigint NOT NULL);
"""

# Read models created before consumer groups had a column for them: the rows there belong to the projection.
UPGRADE_TABLES = """
ALTER TABLE {s}._checkpoint ADD COLUMN IF NOT EXISTS grp text NOT NULL DEFAULT 'proj';
ALTER TABLE {s}._dead_letter ADD COLUMN IF NOT EXISTS grp text NOT NULL DEFAULT 'proj';
DO $$ DECLARE t text; BEGIN
  FOREACH t IN ARRAY ARRAY['_checkpoint', '_dead_letter'] LOOP
    IF (SELECT array_length(i.indkey, 1) FROM pg_index i
        WHERE i.indrelid = format('{s}.%I', t)::regclass AND i.indisprimary) = 1 THEN
      EXECUTE format('ALTER TABLE {s}.%I DROP CONSTRAINT %I', t, t || '_pkey');
      EXECUTE format('ALTER TABLE {s}.%I ADD PRIMARY KEY (grp, %s)', t,
                     CASE t WHEN '_checkpoint' THEN 'partition' ELSE 'seq' END);
    END IF;
  END LOOP;
END $$;
"""


async def create_runner_tables(conn: asyncpg.Connection, schema: str) -> None:
    """Checkpoints, dead letters, applied event ids and chain heads (inside the caller's transaction)."""
    await conn.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
    await conn.execute(RUNNER_TABLES.format(s=schema))
    await conn.execute(lock_free_when_done(UPGRADE_TABLES.format(s=schema)))
    await conn.execute(CHAIN_TABLE.format(s=schema))


async def ensure_checkpoints(
    conn: asyncpg.Connection, schema: str, group: str, partitions: int, start_seq: int = 0
) -> None:
    await conn.executemany(
        f"INSERT INTO {schema}._checkpoint (grp, partition, last_seq) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
        [(group, p, start_seq) for p in range(partitions)],
    )


async def park(conn: asyncpg.Connection, schema: str, group: str, parked: Sequence[tuple[Raw, str]]) -> None:
    if not parked:
        return
    await conn.executemany(
        f"INSERT INTO {schema}._dead_letter (grp, seq, subject, reason, data) VALUES ($1, $2, $3, $4, $5)"
        " ON CONFLICT (grp, seq) DO NOTHING",
        [(group, raw.seq, raw.subject, reason, raw.data) for raw, reason in parked],
    )
    for raw, reason in parked:
        log.error("%s: parked event seq=%s subject=%s: %s", group, raw.seq, raw.subject, reason)
