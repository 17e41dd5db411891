"""Reminders (催办) on a supervision order's cadence, exactly once per reminder period, with two replicas of
issue_coordination on the real servers sharing one moved clock: each replica's timer competes for the daily run, a
re-run of the same moment by both at once appends nothing, and a closed order is reminded no more."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime

import pytest

from services.issue_coordination.supervision_reminders import SUPERVISION_REMINDERS, run_reminders
from shared.eventstore import Context
from shared.runtime import Runtime
from shared.settings import Settings
from tests.issue_coordination.two_replicas import Two, run_timer_on, two_replicas
from tests.platform import SYSTEM_CTX, auth


@pytest.fixture
async def two(settings: Settings) -> AsyncIterator[Two]:
    async with two_replicas(settings) as replicas:
        yield replicas


async def reminders_of(rt: Runtime, order_id: str) -> list[int | None]:
    events = await rt.store.read_aggregate("supervision_order", order_id)
    return [e.envelope.payload.get("period") for e in events if e.envelope.type == "SupervisionOrderReminded"]


async def move_to(two: Two, day: date, hour: int) -> None:
    """Move the shared clock and wait until the daily reminder run of that day is done (by either replica)."""
    await run_timer_on(two, SUPERVISION_REMINDERS, day, hour)


async def test_reminders_once_per_period_with_two_replicas_until_closed(two: Two) -> None:
    project_id = await two.rts[0].pool.fetchval("SELECT id FROM issue_coordination.project_directory")
    sup, unit = auth(two.tokens["supervision"]), auth(two.tokens["unit-a"])
    body = {"target_unit_id": "unit-a", "project_id": project_id, "subject": "开工滞后", "requirement": "限期整改",
            "deadline": "2024-01-31T18:00:00+08:00"}  # fmt: skip
    r = await two.a.post("/v1/supervision-orders", json=body, headers=sup)
    assert r.status_code == 201, r.text
    order_id = r.json()["id"]
    for rt in two.rts:
        assert await rt.runner.wait_for(r.json()["seq"], 10)

    await move_to(two, date(2024, 1, 3), 10)  # 2 days 2 hours after issue: the 3-day cadence has not come round
    assert await reminders_of(two.rts[0], order_id) == []
    await move_to(two, date(2024, 1, 4), 10)  # 01-04 09:00 is 3 days 1 hour on: period 0
    assert await reminders_of(two.rts[0], order_id) == [0]
    r = await two.a.post(f"/v1/supervision-orders/{order_id}/reminders", json={"text": "请加快"}, headers=sup)
    assert r.status_code == 201, r.text  # a reminder by hand is extra, it does not use up a period
    await move_to(two, date(2024, 1, 9), 10)  # runs 01-05 .. 01-09 in order: 01-07 09:00 starts period 1
    assert await reminders_of(two.rts[0], order_id) == [0, None, 1]

    # Both replicas re-run the moment of period 1 at once (as after a crash mid-run): nothing more is appended.
    at = datetime(2024, 1, 7, 1, tzinfo=UTC)
    ctx = Context(actor=SYSTEM_CTX.actor, correlation_id="rerun")
    reruns = await asyncio.gather(*(run_reminders(rt, at, ctx) for rt in two.rts))
    assert reruns == [[], []] and await reminders_of(two.rts[0], order_id) == [0, None, 1]

    for path, org, payload in (("rectification-plan", unit, {"text": "整改方案"}),
                               ("rectification-plan/review", sup, {"accepted": True}),
                               ("closure", sup, {"conclusion": "整改到位"})):  # fmt: skip
        r = await two.a.post(f"/v1/supervision-orders/{order_id}/{path}", json=payload, headers=org)
        assert r.status_code == 200, r.text
    for rt in two.rts:
        assert await rt.runner.wait_for(r.json()["seq"], 10)
    await move_to(two, date(2024, 1, 13), 10)  # period 3 would have come on 01-13 09:00: the order is closed
    assert await reminders_of(two.rts[0], order_id) == [0, None, 1]
    r = await two.a.get(f"/v1/supervision-orders/{order_id}", headers=sup)
    assert (r.json()["reminders"], r.json()["status"]) == (3, "closed")


async def test_a_rule_version_with_another_cadence_changes_when_the_next_reminder_comes(two: Two) -> None:
    project_id = await two.rts[0].pool.fetchval("SELECT id FROM issue_coordination.project_directory")
    sup, hq = auth(two.tokens["supervision"]), auth(two.tokens["hq"])
    body = {"target_unit_id": "unit-a", "project_id": project_id, "subject": "开工滞后", "requirement": "限期整改",
            "deadline": "2024-01-31T18:00:00+08:00"}  # fmt: skip
    r = await two.a.post("/v1/supervision-orders", json=body, headers=sup)
    assert r.status_code == 201, r.text
    order_id = r.json()["id"]
    for rt in two.rts:
        assert await rt.runner.wait_for(r.json()["seq"], 10)
    await move_to(two, date(2024, 1, 4), 10)  # the seeded rules' 3 days: due 01-04 08:00
    assert await reminders_of(two.rts[0], order_id) == [0]

    # Daily from 01-05 on, then every 5 days from 01-07 on: each run takes the version in force on its own day.
    for effective_from, every in (("2024-01-05", 1), ("2024-01-07", 5)):
        rules = {"effective_from": effective_from, "rules": {"reminder_every_days": every}}
        r = await two.a.post("/v1/issue-rules", json=rules, headers=hq)
        assert r.status_code == 201, r.text
    for rt in two.rts:
        assert await rt.runner.wait_for(r.json()["seq"], 10)
    await move_to(two, date(2024, 1, 5), 10)  # a day after 01-04 08:00 (3 days would have been 01-07)
    assert await reminders_of(two.rts[0], order_id) == [0, 1]
    await move_to(two, date(2024, 1, 6), 10)
    assert await reminders_of(two.rts[0], order_id) == [0, 1, 2]
    await move_to(two, date(2024, 1, 10), 10)  # 5 days after 01-06 08:00 is 01-11 08:00
    assert await reminders_of(two.rts[0], order_id) == [0, 1, 2]
    await move_to(two, date(2024, 1, 11), 10)
    assert await reminders_of(two.rts[0], order_id) == [0, 1, 2, 3]
    events = await two.rts[0].store.read_aggregate("supervision_order", order_id)
    due = [e.envelope.payload["due_at"] for e in events if e.envelope.type == "SupervisionOrderReminded"]
    assert [datetime.fromisoformat(d).day for d in due] == [4, 5, 6, 11]

    r = await two.a.post("/v1/supervision-orders", json=body, headers=sup)  # issued under the 5-day version
    assert r.status_code == 201, r.text
    for rt in two.rts:
        assert await rt.runner.wait_for(r.json()["seq"], 10)
    r = await two.a.get(f"/v1/supervision-orders/{r.json()['id']}", headers=sup)
    assert r.json()["reminder_every_days"] == 5
