"""Rebuild a read model from sequence 1 into a fresh schema, and compare two schemas row by row.

A rebuild is how an auditor checks that today's read models follow from the events, and how a changed projection
is deployed beside the live one. The read models are partition-independent (a live projection folds each partition
in a worker of its own), so a rebuild folds each partition on its own too, from a named consumer of its own
(shared.partition_reader, docs/adr/0012); `rebuild` folds the partitions it is given concurrently, and
shared.rebuild_processes spreads them over several OS processes into the same scratch schema.

Per partition, a task reads and checks each arriving chunk (`check_all`; with `verify_hashes`, the hash too: an
audit) while the caller follows the chains and folds the previous batch; one batch ahead, no more. A batch of
thousands of events is written with a few bulk statements in one transaction: the read model, the chain heads it
moved, the parked events, the applied event ids (COPY) and the partition's checkpoint. The scratch schema is
consistent after every batch, and loads without the indexes no fold reads, which `finish` builds once at the end
(shared.rebuild_indexes, docs/adr/0019): from then on a projection could take it over from its checkpoints.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass

import asyncpg

from shared.aggregate_table import Events
from shared.checkpoints import ids_for_commands, park
from shared.consumer import TRANSIENT
from shared.db import ident
from shared.eventstore import EventStore, StoredEvent
from shared.names import PROJECTION_GROUP, REBUILD_GROUP, consumer_name
from shared.partition_reader import PartitionReader
from shared.projection import ReadModel, apply_one_by_one, create_schema
from shared.rebuild_indexes import defer_indexes, restore_indexes
from shared.tasks import cancel_and_wait
from shared.verification import Head, Key, Raw, Verified, check_all, follow_chains, save_heads

log = logging.getLogger("tiaodu.rebuild")

IdsForCommands = Callable[[Sequence[StoredEvent]], Sequence[StoredEvent]]  # shared.checkpoints.ids_for_commands
WRITE_ATTEMPTS = 5  # a batch's transaction retried after a transient failure (a deadlock with another partition)


@dataclass
class RebuildResult:
    schema: str
    until_seq: int
    applied: int
    dead_lettered: int
    processes: int = 1
    read: int = 0  # events read: every sequence up to `until_seq` once, when every partition was rebuilt

    def add(self, other: RebuildResult) -> None:
        self.applied += other.applied
        self.dead_lettered += other.dead_lettered
        self.read += other.read


async def check_whole(store: EventStore, result: RebuildResult) -> None:
    """Every partition rebuilt: each sequence up to the end must have been read once. The stream denies deletes and
    purges (shared.provision verifies it), so its sequences up to the end are exactly 1..end, all of them events."""
    expected = min(result.until_seq, await store.last_seq())
    if result.read != expected or result.applied + result.dead_lettered != expected:
        raise RuntimeError(
            f"{result.schema}: the rebuild read {result.read} events and used {result.applied} + "
            f"{result.dead_lettered} parked, but the log holds {expected} up to {result.until_seq}"
        )


async def _no_earlier_head(key: Key, before_seq: int) -> Head | None:
    # Replaying from sequence 1, every chain's head is known: an unknown one means there is no previous event.
    return None


async def _batches(
    reader: PartitionReader, end: int, size: int, *, verify_hashes: bool
) -> AsyncIterator[tuple[list[Raw], Verified]]:
    """A partition up to `end` in batches of about `size`, each chunk checked as soon as it arrives (its bytes are
    still in the CPU's cache then) by a task of its own while the caller folds the previous batch."""
    batches: asyncio.Queue[tuple[list[Raw], Verified] | BaseException | None] = asyncio.Queue(maxsize=1)

    async def read() -> None:
        try:
            raws: list[Raw] = []
            checked = Verified([], [], {})
            async for arrived in reader.read(1, end):
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

    task = asyncio.create_task(read())
    try:
        while (item := await batches.get()) is not None:
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        await cancel_and_wait(task, timeout=5.0)


@dataclass(frozen=True)
class Destination:
    """Where one partition's batches are written: the scratch schema and its read model, and the ids kept."""

    schema: str
    read_model: ReadModel
    partition: int
    for_commands: IdsForCommands  # the applied events `_applied_event` keeps, as the live projection keeps them


async def _write(conn: asyncpg.Connection, to: Destination, raws: Sequence[Raw], checked: Verified) -> tuple[int, int]:
    """One batch of one partition in the caller's transaction: the read model, the bookkeeping, the partition's
    checkpoint; returns (applied, parked)."""
    schema, read_model = to.schema, to.read_model
    parked = list(checked.parked)
    try:
        async with conn.transaction():  # one savepoint per batch of thousands: a failure falls back to one by one
            await read_model.apply(conn, schema, Events(checked.sound))
        applied = list(checked.sound)
    except TRANSIENT:
        raise
    except Exception:
        applied, failed = await apply_one_by_one(conn, schema, read_model, checked.sound, raws)
        parked.extend(failed)
    await save_heads(conn, schema, PROJECTION_GROUP, checked.heads)
    await park(conn, schema, PROJECTION_GROUP, parked)
    await conn.copy_records_to_table(
        "_applied_event",
        schema_name=schema,
        columns=["event_id", "aggregate_type", "aggregate_id", "version", "seq"],
        records=[
            (e.envelope.id, e.envelope.aggregate_type, e.envelope.aggregate_id, e.envelope.version, e.seq)
            for e in to.for_commands(applied)
        ],
    )
    await conn.execute(
        f"UPDATE {schema}._checkpoint SET last_seq = $3 WHERE grp = $1 AND partition = $2",
        PROJECTION_GROUP,
        to.partition,
        raws[-1].seq,
    )
    return len(applied), len(parked)


async def _write_retrying(
    pool: asyncpg.Pool, to: Destination, raws: Sequence[Raw], checked: Verified
) -> tuple[int, int]:
    for attempt in range(1, WRITE_ATTEMPTS + 1):
        try:
            async with pool.acquire() as conn, conn.transaction():
                return await _write(conn, to, raws, checked)
        except TRANSIENT as exc:
            if attempt == WRITE_ATTEMPTS:
                raise
            log.warning("%s: batch of partition %s from seq %s failed (%s: %s); attempt %s of %s", to.schema,
                        to.partition, raws[0].seq, type(exc).__name__, exc, attempt + 1, WRITE_ATTEMPTS)  # fmt: skip
            await asyncio.sleep(0.1 * attempt)
    raise AssertionError("unreachable")


async def rebuild_partition(
    pool: asyncpg.Pool,
    store: EventStore,
    read_model: ReadModel,
    schema: str,
    partition: int,
    end: int,
    *,
    service: str,
    batch: int = 5_000,
    verify_hashes: bool = False,
) -> RebuildResult:
    """Fold one partition from sequence 1 up to `end` into `schema` (created by `prepare`)."""
    s = ident(schema)
    reader = PartitionReader(
        store.js, store.stream, consumer_name(service, REBUILD_GROUP, partition), store.partition_filter(partition)
    )
    heads: dict[Key, Head] = {}  # every chain's head so far: the whole partition is replayed, so none is read back
    result = RebuildResult(s, end, 0, 0)
    to = Destination(s, read_model, partition, ids_for_commands(service))
    async for raws, messages in _batches(reader, end, batch, verify_hashes=verify_hashes):
        checked = await follow_chains(messages, raws, heads, _no_earlier_head)
        applied, parked = await _write_retrying(pool, to, raws, checked)
        result.applied += applied
        result.dead_lettered += parked
        result.read += len(raws)
    return result


async def prepare(pool: asyncpg.Pool, read_model: ReadModel, schema: str, partitions: int) -> str:
    """Drop `schema` and create it afresh with the read model's tables and a checkpoint per partition at 0, without
    the indexes a rebuild does without while it loads (`finish` builds them)."""
    s = ident(schema)
    async with pool.acquire() as conn:
        await conn.execute(f"DROP SCHEMA IF EXISTS {s} CASCADE")
        await create_schema(conn, s, read_model, partitions)
        await defer_indexes(conn, s)
    return s


async def finish(pool: asyncpg.Pool, schema: str) -> None:
    """The end of a rebuild that `prepare` began: the deferred indexes built from the loaded tables."""
    await restore_indexes(pool, ident(schema))


async def rebuild(
    pool: asyncpg.Pool,
    store: EventStore,
    read_model: ReadModel,
    schema: str,
    *,
    until_seq: int | None = None,
    batch: int = 5_000,
    verify_hashes: bool = False,
    service: str | None = None,
    partitions: Sequence[int] | None = None,
    fresh: bool = True,
) -> RebuildResult:
    """Replay the log up to `until_seq` (default: its end now) into `schema`, dropped and created afresh.

    `verify_hashes` recomputes every event's hash (an audit: a hash that does not match parks its event); without
    it, what every consumer checks is checked (subject, type, payload, the chain's version and `prev_hash`).
    `service` names the consumers it reads with (`<service>-rebuild-p<n>`, which the service's NATS user may
    create; default: the schema's name). `partitions` (default: all) and `fresh=False` let several processes fold
    their share of the partitions into one schema prepared once, and finished once (shared.rebuild_processes)."""
    s = await prepare(pool, read_model, schema, store.partitions) if fresh else ident(schema)
    end = until_seq if until_seq is not None else await store.last_seq()
    owner = service or schema
    folds = [
        rebuild_partition(pool, store, read_model, schema, p, end, service=owner, batch=batch,
                          verify_hashes=verify_hashes)
        for p in (range(store.partitions) if partitions is None else partitions)
    ]  # fmt: skip
    async with asyncio.TaskGroup() as group:  # a partition that fails stops the others
        tasks = [group.create_task(fold) for fold in folds]
    total = RebuildResult(s, end, 0, 0)
    for task in tasks:
        total.add(task.result())
    if fresh:
        await finish(pool, s)
    if partitions is None:
        await check_whole(store, total)
    return total


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
