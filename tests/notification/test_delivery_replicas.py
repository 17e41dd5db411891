"""Two replicas share the delivery work by partition leases: every notification is sent once (no retries needed,
no crash: so no repeat at all), each recorded delivered once, whichever replica holds its inbox's partition; and a
replica that gives partitions up to a newcomer first finishes the sends it has in flight."""

from __future__ import annotations

import asyncio
import time
from collections import Counter

from services.notification.delivery_worker import DELIVERY, DeliveryRunner
from shared.runtime import Runtime
from tests.notification.channels.conftest import Receiver, receiver
from tests.notification.conftest import Platform
from tests.notification.delivery_helpers import WAIT_S, request, webhook_point
from tests.platform import running, runtime_of, wait_until

__all__ = ["receiver"]  # the receiver fixture, used by name

ORGS = ("unit-a", "unit-b", "unit-c", "supervision", "leader-a")
EACH = 8


def delivery_runner(rt: Runtime) -> DeliveryRunner:
    [runner] = [r for r in rt.reactions if r.group == DELIVERY]
    assert isinstance(runner, DeliveryRunner)
    return runner


async def test_two_replicas_send_each_notification_once(platform: Platform, receiver: Receiver) -> None:
    for org in ORGS:
        await webhook_point(platform, org, receiver)
    second = platform.notification_app("notification-2")
    async with running(second):
        runners = [delivery_runner(platform.notification_rt), delivery_runner(runtime_of(second))]

        held: list[set[int]] = []

        async def shared_out() -> bool:
            nonlocal held
            held = [set((await r.status())["held_partitions"]) for r in runners]  # type: ignore[arg-type]
            return all(held) and not (held[0] & held[1]) and len(held[0] | held[1]) == platform.settings.partitions

        await wait_until(shared_out, 30, "the delivery partitions shared between the replicas")
        started = time.perf_counter()
        ids = [await request(platform, org, title=f"问题升级 {org} {n}") for n in range(EACH) for org in ORGS]

        async def all_received() -> bool:
            return len({r.headers["webhook-id"] for r in receiver.received}) == len(ids)

        await wait_until(all_received, WAIT_S, "every notification received")
        elapsed = time.perf_counter() - started
        await platform.synced()
        assert await runtime_of(second).settled(WAIT_S)
        worked = [r.sent for r in runners]
    counts = Counter(r.headers["webhook-id"] for r in receiver.received)
    assert set(counts) == set(ids) and set(counts.values()) == {1}, counts.most_common(3)
    spanned = {(await platform.notification_rt.store.read_aggregate("inbox", org))[0].partition for org in ORGS}
    for share, sent in zip(held, worked, strict=True):
        assert (sent > 0) == bool(share & spanned), (held, spanned, worked)  # each replica worked its own inboxes
    async with platform.notification_rt.pool.acquire() as conn:
        rows = await conn.fetch(
            f"SELECT notification_id, count(*) AS n FROM {platform.notification_rt.schema}.delivery_attempts"
            " GROUP BY notification_id"
        )
    assert {r["notification_id"]: r["n"] for r in rows} == dict.fromkeys(ids, 1)
    print(f"{len(ids)} notifications appended and received in {elapsed:.2f}s")


async def test_a_send_in_flight_when_a_replica_joins_is_finished_not_sent_again(
    platform: Platform, receiver: Receiver
) -> None:
    """The receiver holds every webhook; one per inbox is in flight on the first replica when the second joins and
    takes the upper half of the partitions (shared.leases: the lowest stay). The first replica's senders finish
    those sends while the leases are still theirs; before, they were cancelled unrecorded and sent again."""
    receiver.hold = asyncio.Event()
    for org in ORGS:
        await webhook_point(platform, org, receiver)
    await platform.synced()  # the contact points are in the read model the engine resolves recipients from
    ids = {org: await request(platform, org) for org in ORGS}
    rt = platform.notification_rt
    partition_of = {org: (await rt.store.read_aggregate("inbox", org))[0].partition for org in ORGS}
    given_up = {p for p in partition_of.values() if p >= platform.settings.partitions // 2}
    assert given_up, partition_of  # the orgs' inboxes span the half the newcomer takes
    await receiver.wait_for(len(set(partition_of.values())))  # each partition's sender has its first send in flight
    first = delivery_runner(rt)
    second = platform.notification_app("notification-2")
    async with running(second):

        async def handing_over() -> bool:
            return given_up <= first.finishing

        await wait_until(handing_over, 30, "the first replica handing its upper partitions over")
        receiver.hold.set()

        async def all_received() -> bool:
            return {r.headers["webhook-id"] for r in receiver.received} == set(ids.values())

        await wait_until(all_received, WAIT_S, "every notification received")
        await platform.synced()
        assert await runtime_of(second).settled(WAIT_S)

        async def queue_empty() -> bool:  # a repeat would come before its row leaves the queue
            async with rt.pool.acquire() as conn:
                return await conn.fetchval(f"SELECT count(*) FROM {rt.schema}.delivery_queue") == 0

        await wait_until(queue_empty, WAIT_S, "the delivery queue worked off")
    counts = Counter(r.headers["webhook-id"] for r in receiver.received)
    assert set(counts.values()) == {1}, counts.most_common(3)
    async with rt.pool.acquire() as conn:
        attempts = await conn.fetchval(f"SELECT count(*) FROM {rt.schema}.delivery_attempts")
    assert attempts == len(ORGS)
