"""A rebuild's reader of one partition (shared.partition_reader) against a real JetStream stream.

What it must give is exactly what batched direct gets (`EventStore.read_log`, the reference) give for the same
partition and range: every event once, in stream order, none skipped; also when its consumer is taken away in the
middle of a read, and at the edges (an empty partition, an end before the partition's first event).
"""

from __future__ import annotations

import asyncio

import pytest

from shared.eventstore import EventStore
from shared.partition_reader import Delivery, PartitionReader


async def publish(store: EventStore, count: int, aggregates: int, size: int = 0) -> None:
    for i in range(count):
        await store.js.publish(store.publish_subject("project", f"p{i % aggregates}"), f"{i}".encode().ljust(size))


async def reference(store: EventStore, partition: int, until_seq: int) -> list[tuple[int, str, bytes]]:
    prefix = f"{store.prefix}.evp.{partition}."
    return [m async for chunk in store.read_log(1, until_seq=until_seq) for m in chunk if m[1].startswith(prefix)]


def reader(store: EventStore, partition: int, window: int = 64) -> PartitionReader:
    return PartitionReader(store.js, store.stream, f"test-rebuild-p{partition}", store.partition_filter(partition),
                           window=window)  # fmt: skip


async def read_all(r: PartitionReader, from_seq: int, until_seq: int) -> list[tuple[int, str, bytes]]:
    return [(raw.seq, raw.subject, raw.data) async for chunk in r.read(from_seq, until_seq) for raw in chunk]


async def test_each_partition_is_read_whole_in_order_and_up_to_the_end_asked_for(store: EventStore) -> None:
    await publish(store, 600, aggregates=40)
    last = await store.last_seq()
    await publish(store, 50, aggregates=40)  # appended after the end asked for: never read
    seen: list[int] = []
    for partition in range(store.partitions):
        expected = await reference(store, partition, last)
        assert expected, "every partition holds some of the 40 aggregates"
        assert await read_all(reader(store, partition), 1, last) == expected
        seen += [seq for seq, _, _ in expected]
    assert sorted(seen) == list(range(1, last + 1))
    # The consumer is gone afterwards: a rebuild leaves nothing behind on the server.
    assert await store.js.consumers_info(store.stream) == []


async def test_a_consumer_taken_away_mid_read_is_recreated_after_the_last_event_received(store: EventStore) -> None:
    await publish(store, 400, aggregates=8)
    last = await store.last_seq()
    partition = 1
    expected = await reference(store, partition, last)
    r = reader(store, partition, window=16)
    got: list[tuple[int, str, bytes]] = []
    async for chunk in r.read(1, last):
        got += [(raw.seq, raw.subject, raw.data) for raw in chunk]
        if r.recreated == 0 and len(got) < len(expected) // 2:
            # Someone deletes the consumer between two chunks (an operator, a second rebuild of the same service).
            await store.js.delete_consumer(store.stream, r.consumer)
    assert r.recreated >= 1
    assert got == expected


async def test_an_empty_range_reads_nothing(store: EventStore) -> None:
    await store.js.publish(store.publish_subject("project", "only"), b"x")
    ack = await store.js.publish(store.publish_subject("project", "only"), b"y")
    stored = await store.js.get_msg(store.stream, seq=ack.seq, direct=True)
    assert stored.subject is not None
    partition = int(stored.subject.split(".")[2])
    empty = next(p for p in range(store.partitions) if p != partition)
    assert await read_all(reader(store, empty), 1, ack.seq) == []
    assert await read_all(reader(store, partition), ack.seq + 1, ack.seq) == []
    assert [seq for seq, _, _ in await read_all(reader(store, partition), 2, ack.seq)] == [2]


def test_the_ack_subject_is_read_in_both_of_its_forms() -> None:
    assert Delivery.of("$JS.ACK.S.c.1.42.7.1700000000000000000.3") == Delivery(1, 42, 7, 3)
    assert Delivery.of("$JS.ACK._.hash.S.c.2.42.7.1700000000000000000.0.tok") == Delivery(2, 42, 7, 0)
    with pytest.raises(ValueError):
        Delivery.of("_INBOX.abc")


async def test_a_slow_caller_gets_what_arrived_while_it_worked_up_to_the_last_event(store: EventStore) -> None:
    """The consumer keeps delivering while the caller folds a chunk; the last deliveries arrive then too (a bench run
    lost a partition's last 1,532 events so: the read ended on the last delivery without yielding those before)."""
    # Enough events of realistic size that they keep arriving while the caller works on the first chunk.
    await publish(store, 4000, aggregates=2, size=800)
    last = await store.last_seq()
    stored = await store.js.get_msg(store.stream, seq=last, direct=True)
    assert stored.subject is not None
    partition = int(stored.subject.split(".")[2])  # the one whose read ends on `until_seq` itself
    expected = await reference(store, partition, last)
    got: list[tuple[int, str, bytes]] = []
    async for chunk in reader(store, partition, window=4000).read(1, last):
        got += [(raw.seq, raw.subject, raw.data) for raw in chunk]
        await asyncio.sleep(0.05)  # a fold and its commit
    assert got == expected
