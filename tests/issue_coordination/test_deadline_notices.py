"""Deadline near (临期提醒): two replicas of issue_coordination on the real servers share one moved clock; each
replica's timer competes for the daily run. Across the 2024 Spring Festival (days off 02-10..02-17, make-up working
days on Sunday 02-04 and Sunday 02-18) an issue and a 督办 order due on Monday 02-19 18:00 are noticed 3 working days
before on Thursday 02-08 and 1 working day before on the make-up Sunday 02-18, each once; a re-run of the same moment
by both replicas appends nothing; an extension gives the new deadline its own two notices."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime

import pytest

from services.issue_coordination.calendar_data import official_days
from services.issue_coordination.deadline_notice_runs import DEADLINE_NOTICES, run_deadline_notices
from services.issue_coordination.deadline_notices import working_days_left
from services.issue_coordination.work_calendar import WorkCalendar
from shared.clock import CHINA
from shared.eventstore import Context
from shared.runtime import Runtime
from shared.settings import Settings
from tests.issue_coordination.two_replicas import Two, run_timer_on, two_replicas
from tests.platform import SYSTEM_CTX, auth

DUE = "2024-02-19T18:00:00+08:00"  # Monday after the Spring Festival week
EXTENDED = "2024-02-22T18:00:00+08:00"  # Thursday


@pytest.fixture
async def two(settings: Settings) -> AsyncIterator[Two]:
    async with two_replicas(settings) as replicas:
        yield replicas


async def synced(two: Two, seq: int) -> None:
    for rt in two.rts:
        assert await rt.runner.wait_for(seq, 10)


async def notices(rt: Runtime, aggregate: str, aggregate_id: str) -> list[tuple[str, int]]:
    """(deadline's China day, working days left) of each deadline-near notice, as the log has them."""
    events = await rt.store.read_aggregate(aggregate, aggregate_id)
    return [
        (datetime.fromisoformat(e.envelope.payload["deadline"]).astimezone(CHINA).date().isoformat(),
         e.envelope.payload["working_days_left"])
        for e in events if e.envelope.type.endswith("DeadlineNeared")
    ]  # fmt: skip


async def move_to(two: Two, day: date, hour: int = 10) -> None:
    """Move the shared clock and wait until that day's deadline-notice run is done (by either replica)."""
    await run_timer_on(two, DEADLINE_NOTICES, day, hour)


async def test_notices_3_and_1_working_days_before_across_a_holiday_once_with_two_replicas(two: Two) -> None:
    project_id = await two.rts[0].pool.fetchval("SELECT id FROM issue_coordination.project_directory")
    hq, unit_a, unit_b = (auth(two.tokens[o]) for o in ("hq", "unit-a", "unit-b"))
    body = {"project_id": project_id, "category": "land", "description": "用地指标未落实", "help_requested": "协调"}
    r = await two.a.post("/v1/issues", json=body, headers=unit_a)
    assert r.status_code == 201, r.text
    issue_id = r.json()["id"]
    r = await two.a.post(f"/v1/issues/{issue_id}/assignment", json={"lead_unit_id": "unit-b", "deadline": DUE},
                         headers=hq)  # fmt: skip
    assert r.status_code == 200, r.text
    order = {"target_unit_id": "unit-a", "project_id": project_id, "subject": "开工滞后", "requirement": "限期整改",
             "deadline": DUE}  # fmt: skip
    r = await two.a.post("/v1/supervision-orders", json=order, headers=auth(two.tokens["supervision"]))
    assert r.status_code == 201, r.text
    order_id = r.json()["id"]
    await synced(two, r.json()["seq"])

    async def both() -> tuple[list[tuple[str, int]], list[tuple[str, int]]]:
        rt = two.rts[0]
        return await notices(rt, "issue", issue_id), await notices(rt, "supervision_order", order_id)

    await move_to(two, date(2024, 2, 7))  # 4 working days left (02-08, 02-09, 02-18, 02-19)
    assert await both() == ([], [])
    await move_to(two, date(2024, 2, 8))  # Thursday: 02-09, 02-18, 02-19
    assert await both() == ([("2024-02-19", 3)], [("2024-02-19", 3)])
    await move_to(two, date(2024, 2, 17))  # runs 02-09 .. 02-17: 2 working days left all through the holiday
    assert await both() == ([("2024-02-19", 3)], [("2024-02-19", 3)])
    await move_to(two, date(2024, 2, 18))  # the make-up Sunday: 1 working day left
    assert await both() == ([("2024-02-19", 3), ("2024-02-19", 1)], [("2024-02-19", 3), ("2024-02-19", 1)])

    # Both replicas re-run that morning's moment at once (as after a crash mid-run): nothing more is appended.
    at = datetime(2024, 2, 18, 0, 30, tzinfo=UTC)
    ctx = Context(actor=SYSTEM_CTX.actor, correlation_id="rerun")
    assert await asyncio.gather(*(run_deadline_notices(rt, at, ctx) for rt in two.rts)) == [[], []]
    assert len((await both())[0]) == 2

    # An extension to Thursday 02-22: its deadline is noticed anew, on Monday (3 left) and Wednesday (1 left).
    asked = {"requested_deadline": EXTENDED, "reason": "用地指标需省厅批复"}
    r = await two.a.post(f"/v1/issues/{issue_id}/extension-requests", json=asked, headers=unit_b)
    assert r.status_code == 201, r.text
    r = await two.a.post(f"/v1/issues/{issue_id}/extension-requests/{r.json()['request_id']}/decision",
                         json={"decision": "approve", "reason": "同意"}, headers=hq)  # fmt: skip
    assert r.status_code == 200, r.text
    await synced(two, r.json()["seq"])
    await move_to(two, date(2024, 2, 19))
    assert (await both())[0] == [("2024-02-19", 3), ("2024-02-19", 1), ("2024-02-22", 3)]
    await move_to(two, date(2024, 2, 21))
    assert (await both())[0] == [("2024-02-19", 3), ("2024-02-19", 1), ("2024-02-22", 3), ("2024-02-22", 1)]
    # The order was due on 02-19 and is overdue now: nothing more for it.
    assert (await both())[1] == [("2024-02-19", 3), ("2024-02-19", 1)]
    await synced(two, await two.rts[0].store.last_seq())  # the timeline is the read model's: let it apply the last
    r = await two.a.get(f"/v1/issues/{issue_id}/timeline", headers=hq)
    assert [e["summary"] for e in r.json()["items"]].count("临期提醒") == 4
    for path in (f"/v1/issues/{issue_id}", f"/v1/supervision-orders/{order_id}"):  # they still read as before
        r = await two.a.get(path, headers=hq)
        assert r.status_code == 200 and "deadline_notices" not in r.json(), r.text


def test_working_days_left_count_the_deadline_day_not_today() -> None:
    calendar = WorkCalendar(1, date(2000, 1, 1), official_days(2024, 2024))
    deadline = datetime.fromisoformat(DUE)
    left = {day: working_days_left(calendar, date(2024, 2, day), deadline) for day in (7, 8, 9, 10, 17, 18, 19, 20)}
    assert left == {7: 4, 8: 3, 9: 2, 10: 2, 17: 2, 18: 1, 19: 0, 20: 0}
