"""Full chain verification runs (docs/adr/0029): started by a POST, run in the background of the process that took
it, over the log itself (JetStream, never the index), recorded in PostgreSQL so that the result outlives the process.

Runs are kept in a schema of their own (`<schema>_verification`), beside the read model and not in it: a rebuild
makes the read model again from the log, but a run's result is not in the log.

One run at a time across replicas: a run is a row, and a partial unique index admits one `running` row. The process
running it moves the row's heartbeat with every batch it checks (PostgreSQL's clock: liveness, not domain time); a
row whose heartbeat is older than `STALE_S` belongs to a process that died, and the next POST marks it `abandoned`
and starts afresh. The heartbeat update is guarded by the holder, so a run that was taken over stops.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from dataclasses import dataclass, field

import asyncpg

from services.audit.chains import ChainCheck
from shared.auth import Principal
from shared.clock import Clock
from shared.db import ident
from shared.eventstore import EventStore
from shared.tasks import cancel_and_wait

log = logging.getLogger("tiaodu.audit.verification")

STALE_S = 60.0
READ_BATCH = 1000

DDL = """
CREATE SCHEMA IF NOT EXISTS {r};
CREATE TABLE IF NOT EXISTS {r}.verification_run (
    id uuid PRIMARY KEY, status text NOT NULL, requested_by_org text NOT NULL, requested_by_role text NOT NULL,
    requested_at timestamptz NOT NULL, finished_at timestamptz, until_seq bigint NOT NULL,
    events bigint NOT NULL DEFAULT 0, aggregates bigint NOT NULL DEFAULT 0, broken_aggregates bigint NOT NULL DEFAULT 0,
    error text, holder text NOT NULL, heartbeat timestamptz NOT NULL, started bigserial);
CREATE UNIQUE INDEX IF NOT EXISTS verification_run_one_running ON {r}.verification_run ((true))
    WHERE status = 'running';
CREATE TABLE IF NOT EXISTS {r}.verification_break (
    run_id uuid NOT NULL REFERENCES {r}.verification_run (id), aggregate_type text NOT NULL,
    aggregate_id text NOT NULL, seq bigint NOT NULL, reason text NOT NULL, breaks int NOT NULL,
    PRIMARY KEY (run_id, seq));
"""

# What a reader sees: a `running` row nobody has moved for STALE_S is `abandoned` (its process died).
STATUS = (
    f"CASE WHEN status = 'running' AND heartbeat < clock_timestamp() - interval '{STALE_S} seconds'"
    " THEN 'abandoned' ELSE status END AS status"
)
RUN_COLUMNS = (
    f"id, {STATUS}, requested_by_org, requested_by_role, requested_at, finished_at, until_seq, events, aggregates,"
    " broken_aggregates, error"
)


def runs_schema(schema: str) -> str:
    return ident(f"{schema}_verification")


async def create_tables(pool: asyncpg.Pool, schema: str) -> None:
    async with pool.acquire() as conn, conn.transaction():
        # Replicas start together: serialise the DDL, as shared.projection.create_schema does.
        await conn.execute("SELECT pg_advisory_xact_lock(hashtext($1))", runs_schema(schema))
        await conn.execute(DDL.format(r=runs_schema(schema)))


@dataclass
class Verifications:
    """The runs this process holds, and how to start one."""

    pool: asyncpg.Pool
    store: EventStore
    schema: str
    holder: str
    clock: Clock
    tasks: set[asyncio.Task[None]] = field(default_factory=set)

    @property
    def r(self) -> str:
        return runs_schema(self.schema)

    async def start(self, principal: Principal) -> tuple[uuid.UUID, bool]:
        """Start a run over the log as it is now, unless one is running: (the run's id, whether this started it)."""
        until = await self.store.last_seq()
        run_id = uuid.uuid4()
        async with self.pool.acquire() as conn, conn.transaction():
            await conn.execute(
                f"UPDATE {self.r}.verification_run SET status = 'abandoned', finished_at = $1"
                f" WHERE status = 'running' AND heartbeat < clock_timestamp() - interval '{STALE_S} seconds'",
                self.clock.now(),
            )
            started = await conn.fetchval(
                f"INSERT INTO {self.r}.verification_run (id, status, requested_by_org, requested_by_role,"
                " requested_at, until_seq, holder, heartbeat)"
                " VALUES ($1, 'running', $2, $3, $4, $5, $6, clock_timestamp())"
                " ON CONFLICT ((true)) WHERE status = 'running' DO NOTHING RETURNING id",
                run_id, principal.org_id, principal.role.value, self.clock.now(), until, self.holder,
            )  # fmt: skip
            if started is None:
                running: uuid.UUID = await conn.fetchval(
                    f"SELECT id FROM {self.r}.verification_run WHERE status = 'running'"
                )
                return running, False
        task = asyncio.create_task(self._run(run_id, until), name=f"audit-verification-{run_id}")
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        return run_id, True

    async def stop(self) -> None:
        for task in list(self.tasks):
            await cancel_and_wait(task, timeout=10.0)

    async def _run(self, run_id: uuid.UUID, until: int) -> None:
        check = ChainCheck()
        try:
            async for chunk in self.store.read_log(1, until_seq=until, batch=READ_BATCH):
                # Hashing a batch is CPU work: off the event loop, so the API keeps answering meanwhile.
                await asyncio.to_thread(check.feed, chunk)
                if not await self._progress(run_id, check):
                    log.warning("verification run %s was taken over by another process; stopping", run_id)
                    return
            await self._finish(run_id, check)
        except asyncio.CancelledError:
            raise  # the process stops: the row's heartbeat goes stale and the next POST starts afresh
        except Exception as exc:
            log.exception("verification run %s failed", run_id)
            with contextlib.suppress(Exception):  # the database itself may be what failed: the row goes stale
                await self._fail(run_id, f"{type(exc).__name__}: {exc}")

    async def _progress(self, run_id: uuid.UUID, check: ChainCheck) -> bool:
        async with self.pool.acquire() as conn:
            moved = await conn.fetchval(
                f"UPDATE {self.r}.verification_run SET events = $3, aggregates = $4, broken_aggregates = $5,"
                " heartbeat = clock_timestamp() WHERE id = $1 AND holder = $2 AND status = 'running' RETURNING 1",
                run_id, self.holder, check.events, check.aggregates, len(check.first_break),
            )  # fmt: skip
        return moved is not None

    async def _finish(self, run_id: uuid.UUID, check: ChainCheck) -> None:
        breaks = [(key, b, check.break_count[key]) for key, b in check.first_break.items()]
        async with self.pool.acquire() as conn, conn.transaction():
            finished = await conn.fetchval(
                f"UPDATE {self.r}.verification_run SET status = 'completed', finished_at = $3, events = $4,"
                " aggregates = $5, broken_aggregates = $6, heartbeat = clock_timestamp()"
                " WHERE id = $1 AND holder = $2 AND status = 'running' RETURNING 1",
                run_id, self.holder, self.clock.now(), check.events, check.aggregates, len(breaks),
            )  # fmt: skip
            if finished is None:
                return  # taken over meanwhile: the other run's result stands
            await conn.execute(
                f"INSERT INTO {self.r}.verification_break (run_id, aggregate_type, aggregate_id, seq, reason, breaks)"
                " SELECT $1, t, i, s, r, n FROM unnest($2::text[], $3::text[], $4::bigint[], $5::text[], $6::int[])"
                " AS u(t, i, s, r, n)",
                run_id, [k[0] for k, _, _ in breaks], [k[1] for k, _, _ in breaks], [b.seq for _, b, _ in breaks],
                [b.reason for _, b, _ in breaks], [n for _, _, n in breaks],
            )  # fmt: skip

    async def _fail(self, run_id: uuid.UUID, error: str) -> None:
        async with self.pool.acquire() as conn:
            await conn.execute(
                f"UPDATE {self.r}.verification_run SET status = 'failed', error = $3, finished_at = $4"
                " WHERE id = $1 AND holder = $2 AND status = 'running'",
                run_id, self.holder, error, self.clock.now(),
            )  # fmt: skip


async def run_record(pool: asyncpg.Pool, schema: str, run_id: uuid.UUID | None) -> asyncpg.Record | None:
    """One run (the last one started when `run_id` is None)."""
    r = runs_schema(schema)
    where = "WHERE id = $1" if run_id is not None else "WHERE $1::uuid IS NULL"
    async with pool.acquire() as conn:
        row: asyncpg.Record | None = await conn.fetchrow(
            f"SELECT {RUN_COLUMNS} FROM {r}.verification_run {where} ORDER BY started DESC LIMIT 1", run_id
        )
    return row


async def run_breaks(
    pool: asyncpg.Pool, schema: str, run_id: uuid.UUID, *, limit: int, offset: int
) -> tuple[list[asyncpg.Record], int]:
    r = runs_schema(schema)
    async with pool.acquire() as conn:
        rows: list[asyncpg.Record] = await conn.fetch(
            f"SELECT aggregate_type, aggregate_id, seq, reason, breaks FROM {r}.verification_break WHERE run_id = $1"
            " ORDER BY seq LIMIT $2 OFFSET $3",
            run_id, limit, offset,
        )  # fmt: skip
        total = await conn.fetchval(f"SELECT count(*) FROM {r}.verification_break WHERE run_id = $1", run_id)
    return rows, int(total)
