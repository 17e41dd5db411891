"""The projection runner: folds the event log into a service's PostgreSQL schema.

- One durable pull consumer per partition (`<service>-proj-p<n>`); the replica holding a partition's lease is its only
  reader. Each batch is applied with the partition's checkpoint in ONE transaction; the ack follows the commit.
- The checkpoint row carries the epoch (fencing token) of the lease holder; a commit from an older epoch is
  refused, so a replica that lost its lease while paused can never apply anything, and a new holder always
  restarts the consumer at checkpoint + 1: no event is applied twice, skipped, or reordered within an aggregate.
- An event that cannot be parsed or applied is parked in `_dead_letter` with the reason; the rest flows.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import asyncpg
import nats.errors
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js import api as js_api
from pydantic import ValidationError

from shared import names
from shared.catalogue import CATALOGUE, UnknownEventType
from shared.consumers import ensure_durable_consumer
from shared.db import CONNECTION_ERRORS, ident
from shared.envelope import parse_envelope
from shared.eventstore import EventStore, StoredEvent
from shared.leases import PartitionLeases
from shared.tasks import cancel_and_wait
from shared.telemetry import consumer_span

log = logging.getLogger("tiaodu.projection")


class ReadModel(Protocol):
    """A service's read model: its tables, and how a batch of events changes them."""

    @property
    def tables(self) -> Sequence[str]:
        """The tables `diff_schemas` compares; each must have a primary key."""
        ...

    async def create_tables(self, conn: asyncpg.Connection, schema: str) -> None: ...

    async def apply(self, conn: asyncpg.Connection, schema: str, events: Sequence[StoredEvent]) -> None: ...


class Fenced(Exception):
    """A newer lease holder owns this partition's checkpoint."""


@dataclass
class Raw:
    seq: int
    subject: str
    data: bytes


@dataclass
class RunnerStats:
    applied: int = 0
    skipped_redeliveries: int = 0
    dead_lettered: int = 0
    batches: int = 0
    fenced: int = 0


# Called after a batch is committed and before it is acked; tests use it to crash exactly there.
AfterCommit = Callable[[int, list[Raw]], Awaitable[None]]


RUNNER_TABLES = """
CREATE TABLE IF NOT EXISTS {s}._checkpoint (
    partition int PRIMARY KEY, last_seq bigint NOT NULL DEFAULT 0, epoch bigint NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS {s}._dead_letter (
    seq bigint PRIMARY KEY, subject text NOT NULL, reason text NOT NULL, data bytea NOT NULL,
    parked_at timestamptz NOT NULL DEFAULT now());
CREATE TABLE IF NOT EXISTS {s}._applied_event (
    event_id uuid PRIMARY KEY, aggregate_type text NOT NULL, aggregate_id text NOT NULL,
    version int NOT NULL, seq bigint NOT NULL);
"""


async def create_schema(conn: asyncpg.Connection, schema: str, read_model: ReadModel, partitions: int) -> None:
    s = ident(schema)
    async with conn.transaction():
        # Replicas start together: serialise DDL so concurrent CREATE IF NOT EXISTS cannot collide.
        await conn.execute("SELECT pg_advisory_xact_lock(hashtext($1))", s)
        await conn.execute(f"CREATE SCHEMA IF NOT EXISTS {s}")
        await conn.execute(RUNNER_TABLES.format(s=s))
        await read_model.create_tables(conn, s)
        await conn.executemany(
            f"INSERT INTO {s}._checkpoint (partition) VALUES ($1) ON CONFLICT DO NOTHING",
            [(p,) for p in range(partitions)],
        )


def parse_raw(raw: Raw) -> StoredEvent:
    """Parse and check one stored event; ValueError/ValidationError/UnknownEventType say why it is unusable."""
    envelope = parse_envelope(raw.data)
    CATALOGUE.load_payload(envelope.type, envelope.schema_version, envelope.payload)
    return StoredEvent(raw.seq, raw.subject, envelope)


UNUSABLE = (ValueError, ValidationError, UnknownEventType)


async def apply_batch(
    conn: asyncpg.Connection, schema: str, read_model: ReadModel, raws: Sequence[Raw]
) -> tuple[int, int]:
    """Apply raw events inside the caller's transaction; park what cannot be applied. Returns (applied, parked)."""
    good: list[StoredEvent] = []
    parked: list[tuple[Raw, str]] = []
    for raw in raws:
        try:
            good.append(parse_raw(raw))
        except UNUSABLE as exc:
            parked.append((raw, f"{type(exc).__name__}: {exc}"))
    applied = good
    try:
        async with conn.transaction():  # a savepoint: a failing batch falls back to one event at a time
            await read_model.apply(conn, schema, good)
    except CONNECTION_ERRORS:
        raise
    except Exception:
        applied = []
        for event in good:
            try:
                async with conn.transaction():
                    await read_model.apply(conn, schema, [event])
                applied.append(event)
            except CONNECTION_ERRORS:
                raise
            except Exception as exc:
                parked.append((Raw(event.seq, event.subject, b""), f"apply failed: {type(exc).__name__}: {exc}"))
    if parked:
        by_seq = {raw.seq: raw for raw in raws}
        await conn.executemany(
            f"INSERT INTO {schema}._dead_letter (seq, subject, reason, data) VALUES ($1, $2, $3, $4) "
            "ON CONFLICT (seq) DO NOTHING",
            [(raw.seq, raw.subject, reason, by_seq[raw.seq].data) for raw, reason in parked],
        )
        for raw, reason in parked:
            log.error("dead-lettered event seq=%s subject=%s: %s", raw.seq, raw.subject, reason)
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


@dataclass
class ProjectionRunner:
    service: str
    read_model: ReadModel
    pool: asyncpg.Pool
    store: EventStore
    js: JetStreamContext
    leases: PartitionLeases
    schema: str = ""
    batch: int = 500
    ack_wait: float = 30.0
    tick_interval: float = 1.0
    after_commit: AfterCommit | None = None
    stats: RunnerStats = field(default_factory=RunnerStats)
    _workers: dict[int, asyncio.Task[None]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.schema = ident(self.schema or self.service)

    @property
    def partitions(self) -> int:
        return self.store.partitions

    def consumer_name(self, partition: int) -> str:
        return names.consumer_name(self.service, names.PROJECTION_GROUP, partition)

    async def setup(self) -> None:
        async with self.pool.acquire() as conn:
            await create_schema(conn, self.schema, self.read_model, self.partitions)

    # -- lease loop -------------------------------------------------------------------------------------------

    async def run(self) -> None:
        try:
            while True:
                try:
                    acquired, lost, surplus = await self.leases.tick()
                except (TimeoutError, nats.errors.Error) as exc:
                    log.warning("%s: lease tick failed (%s); retrying", self.service, exc)
                    await asyncio.sleep(self.tick_interval)
                    continue
                for partition in lost | set(surplus):
                    await self._stop_worker(partition)
                for partition in surplus:
                    await self.leases.release(partition)
                for partition, epoch in acquired.items():
                    self._workers[partition] = asyncio.create_task(self._worker(partition, epoch))
                for partition, task in list(self._workers.items()):
                    if task.done():  # a worker that failed gives its lease back and is retried next tick
                        del self._workers[partition]
                        await self.leases.release(partition)
                await asyncio.sleep(self.tick_interval)
        finally:
            for partition in list(self._workers):
                await self._stop_worker(partition)
            with contextlib.suppress(Exception):
                await self.leases.leave()

    async def _stop_worker(self, partition: int) -> None:
        task = self._workers.pop(partition, None)
        if task is not None:
            # The fencing epoch keeps a straggler harmless, so a stop never waits on it for long.
            await cancel_and_wait(task, timeout=3.0)

    # -- one partition ----------------------------------------------------------------------------------------

    async def _fence(self, partition: int, epoch: int) -> int:
        """Claim the partition's checkpoint for `epoch`; returns the checkpoint to resume after."""
        async with self.pool.acquire() as conn, conn.transaction():
            row = await conn.fetchrow(
                f"SELECT last_seq, epoch FROM {self.schema}._checkpoint WHERE partition = $1 FOR UPDATE",
                partition,
            )
            assert row is not None, "checkpoint rows are created by setup()"
            if row["epoch"] > epoch:
                raise Fenced(f"partition {partition}: epoch {row['epoch']} is newer than ours ({epoch})")
            await conn.execute(
                f"UPDATE {self.schema}._checkpoint SET epoch = $2 WHERE partition = $1", partition, epoch
            )
            return int(row["last_seq"])

    async def _bind_consumer(self, partition: int, after_seq: int) -> JetStreamContext.PullSubscription:
        name = self.consumer_name(partition)
        config = js_api.ConsumerConfig(
            durable_name=name,
            filter_subject=self.store.partition_filter(partition),
            deliver_policy=js_api.DeliverPolicy.ALL,
            ack_policy=js_api.AckPolicy.ALL,
            ack_wait=self.ack_wait,
            max_ack_pending=self.batch * 4,
        )
        await ensure_durable_consumer(self.js, self.store.stream, config)  # replaces a squatter (shared.consumers)
        # Whatever the consumer delivered before, the next message is the first after our checkpoint.
        await self.js.reset_consumer(self.store.stream, name, seq=after_seq + 1)
        return await self.js.pull_subscribe_bind(durable=name, stream=self.store.stream)

    async def _worker(self, partition: int, epoch: int) -> None:
        try:
            checkpoint = await self._fence(partition, epoch)
            sub = await self._bind_consumer(partition, checkpoint)
            log.info("%s: partition %s taken at epoch %s from seq %s", self.service, partition, epoch, checkpoint)
            try:
                while True:
                    try:
                        msgs = await sub.fetch(self.batch, timeout=1.0)
                    except (TimeoutError, nats.errors.TimeoutError):
                        continue  # nothing new (nats-py raises either kind)
                    if msgs:
                        await self._handle(partition, epoch, msgs)
            finally:
                with contextlib.suppress(Exception):
                    await sub.unsubscribe()
        except Fenced as exc:
            self.stats.fenced += 1
            log.warning("%s: %s", self.service, exc)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("%s: partition %s worker failed; it will be retried", self.service, partition)
            raise

    async def _handle(self, partition: int, epoch: int, msgs: list[Msg]) -> None:
        raws = [Raw(m.metadata.sequence.stream, m.subject, m.data) for m in msgs]
        async with self.pool.acquire() as conn, conn.transaction():
            row = await conn.fetchrow(
                f"SELECT last_seq, epoch FROM {self.schema}._checkpoint WHERE partition = $1 FOR UPDATE",
                partition,
            )
            assert row is not None
            if row["epoch"] != epoch:
                raise Fenced(f"partition {partition}: fenced by epoch {row['epoch']} (ours {epoch})")
            fresh = [r for r in raws if r.seq > row["last_seq"]]
            self.stats.skipped_redeliveries += len(raws) - len(fresh)
            if fresh:
                causes = [dict(m.headers or {}) for m in msgs if m.metadata.sequence.stream > row["last_seq"]]
                with consumer_span(
                    f"project {self.service}", causes, partition=partition, first_seq=fresh[0].seq, count=len(fresh)
                ):
                    applied, parked = await apply_batch(conn, self.schema, self.read_model, fresh)
                self.stats.applied += applied
                self.stats.dead_lettered += parked
                await conn.execute(
                    f"UPDATE {self.schema}._checkpoint SET last_seq = $2 WHERE partition = $1",
                    partition,
                    fresh[-1].seq,
                )
        self.stats.batches += 1
        if self.after_commit is not None:
            await self.after_commit(partition, raws)
        await msgs[-1].ack()  # AckPolicy.ALL: acknowledges the whole batch

    # -- read-your-writes -------------------------------------------------------------------------------------

    async def reached(self, min_seq: int) -> bool:
        """True when every event up to `min_seq` has been applied (or does not concern any partition behind)."""
        async with self.pool.acquire() as conn:
            rows = await conn.fetch(f"SELECT partition, last_seq FROM {self.schema}._checkpoint")
        for row in rows:
            if row["last_seq"] >= min_seq:
                continue
            nxt = await self.store.first_in_partition_after(row["partition"], row["last_seq"])
            if nxt is not None and nxt <= min_seq:
                return False
        # A sequence the log has not reached yet is not reached by any projection either.
        return min_seq <= await self.store.last_seq()

    async def wait_for(self, min_seq: int, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        delay = 0.005
        while True:
            if await self.reached(min_seq):
                return True
            if time.monotonic() >= deadline:
                return False
            await asyncio.sleep(min(delay, max(0.0, deadline - time.monotonic())))
            delay = min(delay * 2, 0.05)

    async def lag(self) -> dict[str, Any]:
        last = await self.store.last_seq()
        async with self.pool.acquire() as conn:
            rows = await conn.fetch(f"SELECT partition, last_seq FROM {self.schema}._checkpoint ORDER BY 1")
            parked = await conn.fetchval(f"SELECT count(*) FROM {self.schema}._dead_letter")
        return {
            "stream_last_seq": last,
            "checkpoints": {str(r["partition"]): r["last_seq"] for r in rows},
            "dead_letters": parked,
        }
