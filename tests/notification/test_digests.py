"""Digests exactly once per period with two replicas: what a recipient asked to receive daily is held, then goes
out as one digest (one webhook, one inbox entry) however many replicas run the timer, and a re-run of the same
period appends nothing; every sponsoring leader gets one weekly digest of its projects."""

from __future__ import annotations

import asyncio
from datetime import datetime

from services.notification.digests import DIGEST_DAILY, LEADER_DIGEST, gather, leader_digests
from shared.catalogue.notification import Digest
from shared.runtime import Runtime
from shared.schedule import Period
from tests.notification.channels.conftest import Receiver, receiver
from tests.notification.conftest import Platform
from tests.notification.delivery_helpers import (
    WAIT_S,
    advance_to,
    preferences,
    reaches,
    request,
    verified,
    webhook_point,
)
from tests.notification.test_inbox_as_of import inbox_then
from tests.platform import running, runtime_of, wait_until

__all__ = ["receiver"]  # the receiver fixture, used by name


async def digests_in(rt: Runtime, org: str) -> list[dict[str, object]]:
    events = await rt.store.read_aggregate("inbox", org)
    return [e.envelope.payload for e in events if e.envelope.type == "NotificationRequested"
            and e.envelope.payload.get("digest_of")]  # fmt: skip


async def inbox_digests(platform: Platform, ids: list[str]) -> list[tuple[str, str | None, str | None]]:
    """(status, digest, digest_id) of these notifications as unit-b's /v1/inbox lists them, in the order asked."""
    items = {item["id"]: item for item in (await platform.inbox("unit-b"))["items"]}
    return [(items[i]["status"], items[i]["digest"], items[i]["digest_id"]) for i in ids]


async def ran(runtimes: list[Runtime], timer: str, label: str) -> None:
    async def done() -> bool:
        return any((timer, label) in rt.timers.runs for rt in runtimes if rt.timers is not None)

    for rt in runtimes:
        assert rt.timers is not None
        rt.timers.wake()
    await wait_until(done, WAIT_S, f"{timer} {label}")


async def test_a_daily_digest_gathers_what_was_held_once_with_two_replicas(
    platform: Platform, receiver: Receiver
) -> None:
    secret = await webhook_point(platform, "unit-b", receiver)
    await preferences(platform, "unit-b", digest="daily")
    held = [await request(platform, "unit-b", urgency="normal", title=f"进度填报提醒 第 {n} 项") for n in (1, 2, 3)]
    urgent = await request(platform, "unit-b", urgency="urgent")
    await reaches(platform, urgent, "delivered")  # urgent goes alone, at once
    for nid in held:
        await reaches(platform, nid, "digest")
    assert [r.headers["webhook-id"] for r in receiver.received] == [urgent]
    assert await inbox_digests(platform, held) == [("digest", "daily", None)] * 3  # the inbox says they wait

    held_moment = platform.clock.now().isoformat()
    second = platform.notification_app("notification-2")
    async with running(second):
        replicas = [platform.notification_rt, runtime_of(second)]
        advance_to(platform, "2024-01-02T08:00:01+08:00")
        await ran(replicas, DIGEST_DAILY, "2024-01-02")
        [digest] = await digests_in(platform.notification_rt, "unit-b")
        await reaches(platform, str(digest["notification_id"]), "delivered")
        # The same period run again by both replicas at once (as after a lease lost mid-run): nothing more.
        period = Period(datetime.fromisoformat("2024-01-02T08:00:00+08:00"), "2024-01-02")
        again = await asyncio.gather(*(gather(rt, period, Digest.DAILY) for rt in replicas))
        assert again == [[], []]
        for rt in replicas:
            assert await rt.settled(WAIT_S)
    assert len(await digests_in(platform.notification_rt, "unit-b")) == 1
    assert sorted(digest["digest_of"]) == sorted(held)  # type: ignore[call-overload]
    assert [r.headers["webhook-id"] for r in receiver.received] == [urgent, digest["notification_id"]]
    sent = receiver.received[1]
    payload = verified(sent, secret)
    assert payload["data"]["title"] == "每日通知汇总(2024-01-02,共 3 条)"
    assert all(f"进度填报提醒 第 {n} 项" in payload["data"]["body"] for n in (1, 2, 3))
    for nid in held:
        await reaches(platform, nid, "digested")
    await platform.synced()
    # Each held notification shows the digest that carried it, which itself was delivered alone.
    assert await inbox_digests(platform, held) == [("digested", "daily", digest["notification_id"])] * 3
    [(status, _, _)] = await inbox_digests(platform, [str(digest["notification_id"])])
    assert status == "delivered"
    titles = [item["title"] for item in (await platform.inbox("unit-b"))["items"]]
    assert titles.count("每日通知汇总(2024-01-02,共 3 条)") == 1

    # As of before the digest ran (folded from the log): the three held, no digest yet; as of now: the live list.
    then = {i["id"]: i for i in (await inbox_then(platform, "unit-b", held_moment))["items"]}
    assert [(then[nid]["status"], then[nid]["digest"], then[nid]["digest_id"]) for nid in held] == [
        ("digest", "daily", None)
    ] * 3
    assert digest["notification_id"] not in then
    await platform.synced()  # the live list holds every event the fold below reads (a delivery may have come since)
    assert await inbox_then(platform, "unit-b", "2099-01-01") == await platform.inbox("unit-b")


async def test_each_sponsoring_leader_gets_one_weekly_digest_of_its_projects(platform: Platform) -> None:
    await platform.project(name="焦作智能装备产业园")
    await platform.project(name="南水北调配套工程", sponsor_leader_id="leader-a")
    second = platform.notification_app("notification-2")
    async with running(second):
        replicas = [platform.notification_rt, runtime_of(second)]
        advance_to(platform, "2024-01-08T08:30:01+08:00")
        await ran(replicas, LEADER_DIGEST, "2024-01-08")
        for rt in replicas:
            assert await rt.settled(WAIT_S)
        period = Period(datetime.fromisoformat("2024-01-08T08:30:00+08:00"), "2024-01-08")
        assert await asyncio.gather(*(leader_digests(rt, period) for rt in replicas)) == [[], []]
    items = (await platform.inbox("leader-a"))["items"]
    weekly = [i for i in items if i["rule_id"] == LEADER_DIGEST]
    assert len(weekly) == 1
    assert weekly[0]["title"] == "包保项目周报(2024-W01,2 个项目)"
    assert "焦作智能装备产业园" in weekly[0]["body"] and "南水北调配套工程" in weekly[0]["body"]
    events = await platform.notification_rt.store.read_aggregate("inbox", "leader-a")
    assert [e.envelope.payload["rule_id"] for e in events] == [LEADER_DIGEST]  # one event, whoever ran it
