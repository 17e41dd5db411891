"""A consumer group over the partitioned log: the machinery projections and reactions share (docs/adr/0002, 0008).

- Partitions are shared among a group's live replicas through leases (shared.leases).
- Each holder claims the partition's checkpoint row in PostgreSQL with an epoch that only grows; every commit checks
  it, so a replica that lost its lease (paused, partitioned away) can never commit anything.
- The position is the checkpoint alone. A holder (re)creates the partition's durable consumer to start right after
  its checkpoint, with no acks, and accepts a message only if it is the next delivery of that consumer: delivery
  sequence one more than the last one it saw, delivered once. A straggler that pulled from the same consumer, a
  response lost on the wire, anything that makes a delivery go elsewhere shows as a jump; the holder then commits
  what it has and recreates the consumer from its checkpoint. A skip is impossible by construction.
- Transient failures (database or NATS away, deadlock, serialisation failure) retry the same batch; only an event that
  can never be used is parked, by the subclass.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import asyncpg
import nats.errors
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js import api as js_api
from nats.js.errors import NotFoundError

from shared.db import CONNECTION_ERRORS
from shared.eventstore import EventStore
from shared.leases import PartitionLeases
from shared.metrics import CONSUMER_BATCHES
from shared.names import consumer_name
from shared.tasks import cancel_and_wait
from shared.verification import Head, Key, Raw

log = logging.getLogger("tiaodu.consumer")

TRANSIENT: tuple[type[BaseException], ...] = (
    *CONNECTION_ERRORS,
    asyncpg.exceptions.SerializationError,
    asyncpg.exceptions.DeadlockDetectedError,
    asyncpg.exceptions.LockNotAvailableError,
    asyncpg.exceptions.QueryCanceledError,  # the pool's command timeout
    TimeoutError,
    nats.errors.Error,
)
RETRY_MAX_DELAY_S = 5.0
DRAIN_GRACE_S = 10.0  # how long a graceful stop waits for the batches in hand before cancelling them
INACTIVE_CONSUMER_S = 3600.0  # a consumer nobody fetched from for this long is removed by the server


class Fenced(Exception):
    """A newer holder owns this partition's checkpoint."""


@dataclass
class ConsumerStats:
    applied: int = 0
    parked: int = 0
    batches: int = 0
    fenced: int = 0
    recreated: int = 0  # consumers recreated after a delivery that did not follow the last one
    retries: int = 0  # batches retried after a transient failure
    careful: int = 0  # batches that took a subclass's careful path (a failure inside, a checkpoint not as expected)


@dataclass(frozen=True)
class Batch:
    partition: int
    epoch: int
    raws: list[Raw]
    headers: list[dict[str, str]]  # NATS headers of each message (trace context), for the batch's span
    # The checkpoint the batch follows, as this holder last committed it: the consumer it came from was created
    # right after it and every delivery followed the last one. A subclass may commit against it without locking the
    # checkpoint first, provided the commit checks that it still holds (epoch and last_seq).
    after_seq: int = 0


@dataclass
class PartitionedConsumer:
    service: str  # names the consumers (shared.names.consumer_name) and the schema's owner in logs
    group: str
    schema: str
    pool: asyncpg.Pool
    store: EventStore
    js: JetStreamContext
    leases: PartitionLeases
    batch: int = 500
    tick_interval: float = 1.0
    # Seconds to wait after a partial batch before fetching again: under a steady trickle each fetch would bring one
    # or two events and every batch pays its round trips for those few; waiting lets the next batch gather more.
    # A full batch (a backlog) is followed at once. Adds at most this much to the lag.
    linger: float = 0.0
    aggregate_types: Sequence[str] | None = None  # consume only these aggregate types (None: the whole partition)
    stats: ConsumerStats = field(default_factory=ConsumerStats)
    _workers: dict[int, asyncio.Task[None]] = field(default_factory=dict)
    _stopping: asyncio.Event = field(default_factory=asyncio.Event)  # set by `drain`
    _ran: asyncio.Event = field(default_factory=asyncio.Event)  # set when `run` has ended
    _started: bool = False
    _busy: set[int] = field(default_factory=set)  # partitions whose worker is processing a batch

    @property
    def partitions(self) -> int:
        return self.store.partitions

    def consumer_name(self, partition: int) -> str:
        return consumer_name(self.service, self.group, partition)

    async def process(self, batch: Batch) -> int:
        """Use a batch and commit the checkpoint, fenced by `batch.epoch`; returns the new checkpoint."""
        raise NotImplementedError

    def claimed(self, partition: int) -> None:
        """Told when this replica takes a partition with a new epoch (a subclass forgets what it remembered)."""

    async def handing_over(self, partitions: set[int]) -> None:
        """Told before these partitions are given up while their leases are still ours (a rebalance, a drain): a
        subclass finishes what it has in hand outside the batches, briefly (the lease loop waits on it)."""

    # -- lease loop -------------------------------------------------------------------------------------------

    async def run(self) -> None:
        self._started = True
        try:
            while not self._stopping.is_set():
                try:
                    acquired, lost, surplus = await self.leases.tick()
                except (TimeoutError, nats.errors.Error) as exc:
                    log.warning("%s/%s: lease tick failed (%s); retrying", self.service, self.group, exc)
                    await self._pause(self.tick_interval)
                    continue
                if surplus:
                    await self.handing_over(set(surplus))
                for partition in lost | set(surplus):
                    await self._stop_worker(partition)
                for partition in surplus:
                    await self.leases.release(partition)
                for partition in acquired:
                    if self._stopping.is_set():  # taken while a drain began: given back below with the rest
                        continue
                    self._workers[partition] = asyncio.create_task(self._worker(partition))
                for partition, task in list(self._workers.items()):
                    if task.done():  # a worker that stopped gives its lease back and is retried next tick
                        del self._workers[partition]
                        await self.leases.release(partition)
                await self._pause(self.tick_interval)
            # Draining: a worker with a batch in hand ends once it is committed (or, past the grace, is cancelled);
            # one waiting on a fetch has nothing in hand and is cancelled now (whatever it fetched is redelivered
            # from the checkpoint to the next holder).
            await self.handing_over(set(self._workers))
            for partition, task in self._workers.items():
                if partition not in self._busy:
                    task.cancel()
            if self._workers:
                await asyncio.wait(list(self._workers.values()), timeout=DRAIN_GRACE_S)
        finally:
            for partition in list(self._workers):
                await self._stop_worker(partition)
            with contextlib.suppress(Exception):
                await self.leases.leave()  # every lease expired at once: the others take the share at their next tick
            self._ran.set()

    async def _pause(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), seconds)

    async def drain(self) -> None:
        """Graceful stop (SIGTERM): stop taking work, let every worker commit the batch in hand, release the leases.

        Returns when `run` has ended, or at once if it is not running."""
        self._stopping.set()
        if self._running:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._ran.wait(), DRAIN_GRACE_S + 5.0)

    @property
    def _running(self) -> bool:
        return self._started and not self._ran.is_set()

    async def _stop_worker(self, partition: int) -> None:
        task = self._workers.pop(partition, None)
        if task is not None:
            # The epoch keeps a straggler harmless, so a stop never waits on it for long.
            await cancel_and_wait(task, timeout=3.0)

    # -- one partition ----------------------------------------------------------------------------------------

    async def _claim(self, partition: int) -> tuple[int, int]:
        """Take the partition's checkpoint with a new epoch; returns (checkpoint, epoch)."""
        async with self.pool.acquire() as conn, conn.transaction():
            row = await conn.fetchrow(
                f"UPDATE {self.schema}._checkpoint SET epoch = epoch + 1 WHERE grp = $1 AND partition = $2"
                " RETURNING last_seq, epoch",
                self.group,
                partition,
            )
        if row is None:
            raise RuntimeError(f"{self.schema}: no checkpoint row for {self.group}/{partition}; setup() creates it")
        return int(row["last_seq"]), int(row["epoch"])

    async def lock_checkpoint(self, conn: asyncpg.Connection, partition: int, epoch: int) -> int:
        """Inside a transaction: lock the checkpoint row, refuse if another epoch holds it; returns last_seq."""
        row = await conn.fetchrow(
            f"SELECT last_seq, epoch FROM {self.schema}._checkpoint WHERE grp = $1 AND partition = $2 FOR UPDATE",
            self.group,
            partition,
        )
        assert row is not None
        if row["epoch"] != epoch:
            raise Fenced(f"{self.group}/{partition}: fenced by epoch {row['epoch']} (ours {epoch})")
        return int(row["last_seq"])

    async def save_checkpoint(self, conn: asyncpg.Connection, partition: int, last_seq: int) -> None:
        await conn.execute(
            f"UPDATE {self.schema}._checkpoint SET last_seq = $3 WHERE grp = $1 AND partition = $2",
            self.group,
            partition,
            last_seq,
        )

    async def lookup_head(self, key: Key, before_seq: int) -> Head | None:
        event = await self.store.last_before(key[0], key[1], before_seq)
        return None if event is None else Head(event.envelope.version, event.envelope.hash)

    def _filter(self, partition: int) -> dict[str, object]:
        base = f"{self.store.prefix}.evp.{partition}"
        if self.aggregate_types is None:
            return {"filter_subject": f"{base}.>"}
        return {"filter_subjects": [f"{base}.{t}.*" for t in sorted(self.aggregate_types)]}

    async def _fresh_consumer(self, partition: int, checkpoint: int) -> JetStreamContext.PullSubscription:
        name = self.consumer_name(partition)
        with contextlib.suppress(NotFoundError):
            await self.js.delete_consumer(self.store.stream, name)
        config = js_api.ConsumerConfig(
            name=name,
            durable_name=name,
            deliver_policy=js_api.DeliverPolicy.BY_START_SEQUENCE,
            opt_start_seq=checkpoint + 1,
            ack_policy=js_api.AckPolicy.NONE,
            inactive_threshold=INACTIVE_CONSUMER_S,
            **self._filter(partition),  # type: ignore[arg-type]
        )
        await self.js.add_consumer(self.store.stream, config)
        return await self.js.pull_subscribe_bind(durable=name, stream=self.store.stream)

    async def _worker(self, partition: int) -> None:
        try:
            checkpoint, epoch = await self._claim(partition)
            self.claimed(partition)
            log.info("%s/%s: partition %s taken at epoch %s after seq %s", self.service, self.group, partition,
                     epoch, checkpoint)  # fmt: skip
            while not self._stopping.is_set():
                sub = await self._fresh_consumer(partition, checkpoint)
                try:
                    checkpoint = await self._consume(sub, partition, epoch, checkpoint)
                finally:
                    with contextlib.suppress(Exception):
                        await sub.unsubscribe()
                if self._stopping.is_set():
                    log.info("%s/%s: partition %s drained at seq %s", self.service, self.group, partition, checkpoint)
                    return
                self.stats.recreated += 1
        except Fenced as exc:
            self.stats.fenced += 1
            log.warning("%s: %s", self.service, exc)
        except asyncio.CancelledError:
            if self._stopping.is_set() and partition not in self._busy:
                log.info("%s/%s: partition %s drained (nothing in hand)", self.service, self.group, partition)
            raise
        except Exception:
            log.exception("%s/%s: partition %s worker failed; it will be retried", self.service, self.group, partition)
            raise

    async def _consume(
        self, sub: JetStreamContext.PullSubscription, partition: int, epoch: int, checkpoint: int
    ) -> int:
        """Fetch and process until a delivery does not follow the last one; returns the checkpoint reached."""
        next_delivery = 1
        while not self._stopping.is_set():
            try:
                msgs: list[Msg] = await sub.fetch(self.batch, timeout=1.0)
            except (TimeoutError, nats.errors.TimeoutError):
                # Nothing new (nats-py raises either kind), or a straggler took the partition's last deliveries:
                # then no later delivery would ever show the jump, so ask the consumer what it delivered.
                if await self._delivered_elsewhere(partition, next_delivery):
                    return checkpoint
                continue
            except nats.errors.Error as exc:
                log.warning("%s/%s: fetch on partition %s failed (%s)", self.service, self.group, partition, exc)
                await asyncio.sleep(0.5)
                return checkpoint
            follows: list[Msg] = []
            for msg in msgs:
                meta = msg.metadata
                if meta.sequence.consumer != next_delivery or meta.num_delivered != 1:
                    log.warning("%s/%s: partition %s delivery %s (expected %s, delivered %sx); recreating",
                                self.service, self.group, partition, meta.sequence.consumer, next_delivery,
                                meta.num_delivered)  # fmt: skip
                    break
                follows.append(msg)
                next_delivery += 1
            if follows:
                raws = [Raw(m.metadata.sequence.stream, m.subject, m.data) for m in follows]
                batch = Batch(partition, epoch, raws, [dict(m.headers or {}) for m in follows], checkpoint)
                self._busy.add(partition)
                try:
                    checkpoint = await self._process_retrying(batch)
                finally:
                    self._busy.discard(partition)
            if len(follows) < len(msgs):
                return checkpoint
            if len(msgs) < self.batch and self.linger:
                await self._pause(self.linger)
        return checkpoint

    async def _delivered_elsewhere(self, partition: int, next_delivery: int) -> bool:
        """While idle: has the partition's consumer delivered more than this holder received (or gone away)?"""
        try:
            info = await self.js.consumer_info(self.store.stream, self.consumer_name(partition))
            delivered: int | None = info.delivered.consumer_seq if info.delivered is not None else 0
        except NotFoundError:
            delivered = None  # removed (inactive threshold, an operator): recreate it
        except (TimeoutError, nats.errors.Error) as exc:
            log.warning("%s/%s: consumer info on partition %s failed (%s); fetching on", self.service, self.group,
                        partition, exc)  # fmt: skip
            return False
        if delivered is not None and delivered < next_delivery:
            return False
        log.warning("%s/%s: partition %s: the consumer delivered up to %s, this holder saw %s; recreating",
                    self.service, self.group, partition, delivered, next_delivery - 1)  # fmt: skip
        return True

    async def _process_retrying(self, batch: Batch) -> int:
        delay = 0.1
        while True:
            try:
                checkpoint = await self.process(batch)
                self.stats.batches += 1
                CONSUMER_BATCHES.labels(self.service, self.group).inc()
                return checkpoint
            except Fenced:
                raise
            except TRANSIENT as exc:
                self.stats.retries += 1
                log.warning("%s/%s: batch from seq %s failed (%s: %s); retrying in %.1fs", self.service,
                            self.group, batch.raws[0].seq, type(exc).__name__, exc, delay)  # fmt: skip
                await asyncio.sleep(delay)
                delay = min(delay * 2, RETRY_MAX_DELAY_S)

    # -- read-your-writes -------------------------------------------------------------------------------------

    async def next_of_mine(self, partition: int, after_seq: int) -> int | None:
        """The first event after `after_seq` in this partition that this group consumes, or None."""
        if self.aggregate_types is None:
            return await self.store.first_in_partition_after(partition, after_seq)
        found = [
            await self.store.first_in_partition_after(partition, after_seq, aggregate_type=t)
            for t in self.aggregate_types
        ]
        return min((seq for seq in found if seq is not None), default=None)

    async def reached(self, min_seq: int) -> bool:
        """True when every event up to `min_seq` this group consumes has been used (committed)."""
        checkpoints = await self.checkpoints()
        for partition, last_seq in checkpoints.items():
            if last_seq >= min_seq:
                continue
            nxt = await self.next_of_mine(partition, last_seq)
            if nxt is not None and nxt <= min_seq:
                return False
        # A sequence the log has not reached yet is not reached by any consumer either; a checkpoint at or past it
        # says the log has it without asking the server (a reaction waits so for every event it handles).
        return max(checkpoints.values(), default=0) >= min_seq or min_seq <= await self.store.last_seq()

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

    # -- status -----------------------------------------------------------------------------------------------

    async def checkpoints(self) -> dict[int, int]:
        async with self.pool.acquire() as conn:
            rows = await conn.fetch(
                f"SELECT partition, last_seq FROM {self.schema}._checkpoint WHERE grp = $1 ORDER BY 1", self.group
            )
        return {int(r["partition"]): int(r["last_seq"]) for r in rows}

    async def status(self) -> dict[str, object]:
        async with self.pool.acquire() as conn:
            parked = await conn.fetchval(f"SELECT count(*) FROM {self.schema}._dead_letter WHERE grp = $1", self.group)
        return {
            "group": self.group,
            "checkpoints": {str(p): s for p, s in (await self.checkpoints()).items()},
            "parked": int(parked),
            "held_partitions": sorted(self._workers),
            "recreated_consumers": self.stats.recreated,
            "retried_batches": self.stats.retries,
        }
