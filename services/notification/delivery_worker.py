"""The delivery worker: a reaction that queues every requested notification, and per partition one sender that
works the queue while this replica holds the partition's lease (docs/adr/0028).

- The reaction `delivery` (shared.reactions: its own checkpoint, the same trust boundary) turns NotificationRequested
  and DeliveryResendRequested into a row of `delivery_queue` (inserting one that is there already does nothing, so a
  redelivery or a replay is harmless). The queue is this reaction's own table, never part of a rebuildable projection.
- The sender of a partition runs beside the partition's consumer, inside the same lease: losing the lease (or a newer
  epoch taking the checkpoint) stops both, so two replicas never work one inbox at once. Giving a partition up
  gracefully (a rebalance, a drain) first lets the sender finish the row in hand, so the next holder does not send
  it again. A sender takes the rows that are due on the platform clock and hands each to the engine (delivery.py),
  which decides on the inbox as the log has it and answers when the row is due again (a retry, the end of quiet
  hours) or that it is finished.
- The queue only says when to look again; what was tried and what comes next is in the inbox aggregate. A crash after
  a send and before its record repeats that attempt with the same idempotency key (the receiver drops it); a crash
  after the record and before the row moved finds the attempt recorded and only moves the row.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import asyncpg

from shared.consumer import TRANSIENT
from shared.leases import PartitionLeases
from shared.names import lease_group
from shared.reactions import Cause, Reaction, ReactionRunner
from shared.tasks import cancel_and_wait

if TYPE_CHECKING:
    from shared.runtime import Runtime

log = logging.getLogger("tiaodu.notification.delivery")

DELIVERY = "delivery"
QUEUE_DDL = """
CREATE TABLE IF NOT EXISTS {s}.delivery_queue (
    notification_id text PRIMARY KEY,
    inbox_id text NOT NULL,
    partition int NOT NULL,
    due_at timestamptz NOT NULL,
    round int NOT NULL DEFAULT 1
);
CREATE INDEX IF NOT EXISTS delivery_queue_due ON {s}.delivery_queue (partition, due_at);
"""
SENDER_POLL_S = 0.5  # how often an idle sender looks for due rows (a new row wakes it at once; a clock may jump)
BATCH = 50
RETRY_BROKEN = timedelta(minutes=1)  # a notification whose handling broke (a bug, bad data) is looked at again


@dataclass(frozen=True)
class QueueItem:
    notification_id: str
    inbox_id: str
    partition: int
    due_at: datetime
    round: int


# The engine: deliver what is due of one queued notification; answers when to look at it again (None: finished).
Deliver = Callable[["Runtime", QueueItem], Awaitable[datetime | None]]


async def enqueue(
    conn: asyncpg.Connection | asyncpg.Pool, schema: str, item: QueueItem, *, replace_round: bool = False
) -> None:
    """Queue a notification; an existing row stays (a redelivery), unless a newer round (a resend) replaces it."""
    conflict = (
        "DO UPDATE SET due_at = EXCLUDED.due_at, round = EXCLUDED.round"
        f" WHERE {schema}.delivery_queue.round < EXCLUDED.round"
        if replace_round
        else "DO NOTHING"
    )
    await conn.execute(
        f"INSERT INTO {schema}.delivery_queue (notification_id, inbox_id, partition, due_at, round)"
        f" VALUES ($1, $2, $3, $4, $5) ON CONFLICT (notification_id) {conflict}",
        item.notification_id, item.inbox_id, item.partition, item.due_at, item.round,
    )  # fmt: skip


class DeliveryRunner(ReactionRunner):
    """The `delivery` reaction with a sender per held partition."""

    def __init__(self, *, deliver: Deliver, poll_s: float = SENDER_POLL_S, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.deliver = deliver
        self.poll_s = poll_s
        self.epochs: dict[int, int] = {}
        self.wakes: dict[int, asyncio.Event] = {}
        self.sent: int = 0  # queue rows worked, for status and tests
        self.senders: dict[int, asyncio.Task[None]] = {}
        self.finishing: set[int] = set()  # partitions being handed over: their sender stops after the row in hand

    async def setup(self) -> None:
        await super().setup()
        async with self.pool.acquire() as conn, conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock(hashtext($1))", self.schema)
            await conn.execute(QUEUE_DDL.format(s=self.schema))

    async def _claim(self, partition: int) -> tuple[int, int]:
        checkpoint, epoch = await super()._claim(partition)
        self.epochs[partition] = epoch
        return checkpoint, epoch

    def wake(self, partition: int) -> None:
        """A row of `partition` became due now: look at once rather than at the next poll."""
        if (event := self.wakes.get(partition)) is not None:
            event.set()

    async def _worker(self, partition: int) -> None:
        self.epochs.pop(partition, None)
        self.finishing.discard(partition)  # a hand-over of an earlier holding is over: this sender works
        sender = asyncio.create_task(self._send_loop(partition), name=f"{self.service}-sender-p{partition}")
        self.senders[partition] = sender
        try:
            await super()._worker(partition)
        finally:
            await cancel_and_wait(sender, timeout=5.0)
            self.senders.pop(partition, None)
            self.finishing.discard(partition)
            self.epochs.pop(partition, None)

    async def handing_over(self, partitions: set[int]) -> None:
        """Let each sender finish the row in hand (send and record) before its partition goes. A send cancelled
        mid-flight is unrecorded, so the next holder would send it again: harmless to a receiver that drops a
        repeated webhook-id, but a graceful rebalance or drain has no reason to make one. Bounded well inside the
        lease's TTL, since the lease loop renews the other partitions only after this returns."""
        senders = {p: task for p, task in self.senders.items() if p in partitions}
        self.finishing |= senders.keys()
        for partition in senders:
            self.wake(partition)
        if senders:
            await asyncio.wait(senders.values(), timeout=self.leases.ttl / 2)

    async def still_held(self, partition: int, epoch: int) -> bool:
        """The partition is still ours: nobody claimed its checkpoint with a newer epoch."""
        async with self.pool.acquire() as conn:
            current = await conn.fetchval(
                f"SELECT epoch FROM {self.schema}._checkpoint WHERE grp = $1 AND partition = $2", self.group, partition
            )
        return bool(current == epoch)

    async def _send_loop(self, partition: int) -> None:
        wake = self.wakes.setdefault(partition, asyncio.Event())
        while partition not in self.finishing:
            epoch = self.epochs.get(partition)
            try:
                if epoch is not None:
                    await self._send_due(partition, epoch)
            except TRANSIENT as exc:
                log.warning("delivery sender p%s: %s: %s; trying again", partition, type(exc).__name__, exc)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wake.wait(), self.poll_s)
            wake.clear()

    async def _send_due(self, partition: int, epoch: int) -> None:
        while True:
            now = self.runtime.clock.now()
            async with self.pool.acquire() as conn:
                rows = await conn.fetch(
                    f"SELECT notification_id, inbox_id, partition, due_at, round FROM {self.schema}.delivery_queue"
                    " WHERE partition = $1 AND due_at <= $2 ORDER BY due_at, notification_id LIMIT $3",
                    partition, now, BATCH,
                )  # fmt: skip
            if rows and not await self.still_held(partition, epoch):
                return  # a newer holder claimed the partition: its sender works these rows
            for row in rows:
                if partition in self.finishing:
                    return
                item = QueueItem(**dict(row))
                try:
                    again = await self.deliver(self.runtime, item)
                except TRANSIENT:
                    raise
                except Exception:
                    # A notification that cannot be worked must not stop the others; it is looked at again later.
                    log.exception("delivery of %s failed; looking at it again later", item.notification_id)
                    again = now + RETRY_BROKEN
                self.sent += 1
                await self._reschedule(item, again, partition, epoch)
            if len(rows) < BATCH or partition in self.finishing:
                return

    async def _reschedule(self, item: QueueItem, again: datetime | None, partition: int, epoch: int) -> None:
        """Move the row (or drop it when finished), only while this replica still holds the partition and only if
        no resend replaced the row meanwhile."""
        fence = (
            f"AND round = $2 AND (SELECT epoch FROM {self.schema}._checkpoint WHERE grp = $3 AND partition = $4) = $5"
        )
        async with self.pool.acquire() as conn:
            if again is None:
                await conn.execute(
                    f"DELETE FROM {self.schema}.delivery_queue WHERE notification_id = $1 {fence}",
                    item.notification_id, item.round, self.group, partition, epoch,
                )  # fmt: skip
            else:
                await conn.execute(
                    f"UPDATE {self.schema}.delivery_queue SET due_at = $6 WHERE notification_id = $1 {fence}",
                    item.notification_id, item.round, self.group, partition, epoch, again,
                )  # fmt: skip

    async def status(self) -> dict[str, object]:
        async with self.pool.acquire() as conn:
            queued = await conn.fetchval(f"SELECT count(*) FROM {self.schema}.delivery_queue")
        return {**(await super().status()), "queued": int(queued), "worked": self.sent}


async def start_delivery(runtime: Runtime, reaction: Reaction, deliver: Deliver) -> DeliveryRunner:
    """Build the delivery worker beside the runtime's own consumers (shared.runtime builds plain reactions only):
    the same lease bucket and fencing, listed with the runtime's reactions so that `settled` and `/readyz` see it."""
    settings = runtime.settings
    assert runtime.kv is not None
    leases = PartitionLeases(
        runtime.kv, group=lease_group(settings.stream, runtime.schema, reaction.name), partitions=settings.partitions,
        owner=settings.replica_id, ttl=settings.lease_ttl_s,
    )  # fmt: skip
    runner = DeliveryRunner(
        deliver=deliver, reaction=reaction, runtime=runtime, service=runtime.schema, schema=runtime.schema,
        pool=runtime.pool, store=runtime.store, js=runtime.js, leases=leases, tick_interval=settings.lease_tick_s,
    )  # fmt: skip
    await runner.setup()
    runtime.reactions.append(runner)
    if settings.runs_background:
        runtime.run_in_background(runner.run(), reaction.name)
    return runner


def queue_handler(*, replace_round: bool, due: Callable[[Cause], datetime], round_of: Callable[[Cause], int]) -> Any:
    """A reaction handler that queues the notification an inbox event names (built by delivery.py's table)."""

    async def handle(rt: Runtime, cause: Cause) -> None:
        payload = cause.event.envelope.payload
        item = QueueItem(
            notification_id=str(payload["notification_id"]), inbox_id=cause.event.envelope.aggregate_id,
            partition=cause.event.partition, due_at=due(cause), round=round_of(cause),
        )  # fmt: skip
        await enqueue(rt.pool, rt.schema, item, replace_round=replace_round)
        for runner in rt.reactions:
            if isinstance(runner, DeliveryRunner):
                runner.wake(item.partition)

    return handle
