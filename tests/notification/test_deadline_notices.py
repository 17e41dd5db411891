"""End to end on the real servers and one moved clock: an issue assigned with a deadline; issue_coordination's daily
deadline-notice timer records it 3 and 1 working days before (across a weekend); notification's default rules put
each notice once in the lead unit's and the co-handler's inboxes, normal at 3 days and urgent at 1 day (and a 督办
order's in its target unit's); where the ladder ends, the escalation run's overdue notice reaches the lead unit and
hq once."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from datetime import date
from typing import Any

import pytest

from services.issue_coordination.deadline_notice_runs import DEADLINE_NOTICES
from services.issue_coordination.timers import ISSUE_ESCALATION
from shared.kv_records import read_record
from shared.names import timer_key
from shared.settings import Settings
from tests.notification.conftest import Platform, platform_of
from tests.platform import wait_until

DUE = "2024-01-10T18:00:00+08:00"  # a Wednesday: 3 working days before is Friday 01-05, 1 is Tuesday 01-09


@pytest.fixture
async def timed(settings: Settings) -> AsyncIterator[Platform]:
    """The notification tests' platform with issue_coordination's timers running (polling fast) on its clock."""
    async with platform_of(dataclasses.replace(settings, timer_poll_s=0.2), escalate=True) as p:
        yield p


async def move_to(p: Platform, day: date, *, hour: int = 10, timer: str = DEADLINE_NOTICES) -> None:
    """Move the clock to `hour` of `day`, wait until `timer`'s run of that day is done and notification has reacted
    to whatever it recorded."""
    p.clock.set_day(day, hour)
    assert p.issues_rt.timers is not None and p.issues_rt.kv is not None
    p.issues_rt.timers.wake()
    kv, key = p.issues_rt.kv, timer_key(p.settings.stream, "issue_coordination", timer)
    label = day.isoformat()

    async def done() -> bool:
        record, _ = await read_record(kv, key)
        return record is not None and record.get("label") == label and record.get("expires_at") == 0.0

    await wait_until(done, timeout=20, what=f"the {timer} run of {label}")
    await p.synced()


def near(page: dict[str, Any]) -> list[tuple[str, str, str]]:
    return [(i["rule_id"], i["urgency"], i["title"]) for i in reversed(page["items"])
            if i["source_event_type"] == "IssueDeadlineNeared"]  # fmt: skip


async def test_the_lead_unit_hears_3_and_1_working_days_before_once_each(timed: Platform) -> None:
    p = timed
    project_id = await p.project(name="焦作智能装备产业园")
    issue_id = await p.raise_issue(project_id)
    await p.act(issue_id, "assignment", "hq", {"lead_unit_id": "unit-b", "co_handler_ids": ["unit-c"], "deadline": DUE})
    order = {"target_unit_id": "unit-a", "project_id": project_id, "subject": "开工滞后", "requirement": "限期整改",
             "deadline": DUE}  # fmt: skip
    r = await p.issues.post("/v1/supervision-orders", json=order, headers=p.h("supervision"))
    assert r.status_code == 201, r.text
    await p.synced()

    await move_to(p, date(2024, 1, 4))  # Thursday: 4 working days left
    assert near(await p.inbox("unit-b")) == []
    await move_to(p, date(2024, 1, 5))  # Friday: 01-08, 01-09, 01-10
    three = ("issue-deadline-3", "normal", "问题临期(3 个工作日):焦作智能装备产业园")
    assert near(await p.inbox("unit-b")) == [three]
    await move_to(p, date(2024, 1, 8))  # the weekend and Monday: 3 and then 2 left, nothing new
    assert near(await p.inbox("unit-b")) == [three]
    await move_to(p, date(2024, 1, 9))  # Tuesday: 1 left
    one = ("issue-deadline-1", "urgent", "问题临期(1 个工作日):焦作智能装备产业园")
    await move_to(p, date(2024, 1, 10))  # the deadline's day: nothing more
    lead = await p.inbox("unit-b")
    assert near(lead) == [three, one]
    assert near(await p.inbox("unit-c")) == [three, one]
    [urgent] = [i for i in lead["items"] if i["rule_id"] == "issue-deadline-1"]
    assert (urgent["link_kind"], urgent["link_id"]) == ("issue", issue_id)
    assert "2024-01-10 18:00" in urgent["body"] and "1 个工作日" in urgent["body"]
    for org in ("unit-a", "hq", "leader-a", "supervision"):  # the raiser and the rest are not told
        assert near(await p.inbox(org)) == [], org
    # The 督办 order's target unit hears of the order's deadline the same way.
    target = [(i["rule_id"], i["urgency"]) for i in reversed((await p.inbox("unit-a"))["items"])
              if i["source_event_type"] == "SupervisionOrderDeadlineNeared"]  # fmt: skip
    assert target == [("order-deadline-3", "normal"), ("order-deadline-1", "urgent")]


async def test_where_the_ladder_ends_the_overdue_notice_goes_out_once(timed: Platform) -> None:
    """Rules whose ladder ends at hq: the lead unit misses its deadline (escalated to hq), hq misses the next one;
    the escalation runs of that day and the three after find it overdue with no rung left, and the lead unit and hq
    hear of it once, urgent."""
    p = timed
    rules = {"default_working_days": 2, "deadlines": [], "escalation": [{"level": "hq", "working_days": 1}]}
    r = await p.issues.post("/v1/issue-rules", json={"effective_from": "2024-01-01", "rules": rules}, headers=p.h("hq"))
    assert r.status_code == 201, r.text
    project_id = await p.project(name="焦作智能装备产业园")
    issue_id = await p.raise_issue(project_id)
    await p.act(issue_id, "assignment", "hq", {"lead_unit_id": "unit-b", "deadline": DUE})
    await p.synced()

    await move_to(p, date(2024, 1, 10), hour=19, timer=ISSUE_ESCALATION)  # 18:30: to hq, until Thursday 18:00
    assert overdue(await p.inbox("unit-b")) == []
    await move_to(p, date(2024, 1, 11), hour=19, timer=ISSUE_ESCALATION)  # hq's deadline passed: no rung left
    await move_to(p, date(2024, 1, 15), hour=19, timer=ISSUE_ESCALATION)  # the runs of 01-12 to 01-15
    notice = ("issue-overdue", "urgent", "问题逾期未办结(指挥部办公室):焦作智能装备产业园")
    assert overdue(await p.inbox("unit-b")) == [notice]
    assert overdue(await p.inbox("hq")) == [notice]
    [item] = [i for i in (await p.inbox("hq"))["items"] if i["rule_id"] == "issue-overdue"]
    assert (item["link_kind"], item["link_id"]) == ("issue", issue_id) and "2024-01-11 18:00" in item["body"]
    assert overdue(await p.inbox("unit-a")) == []  # the raiser is not told


def overdue(page: dict[str, Any]) -> list[tuple[str, str, str]]:
    return [(i["rule_id"], i["urgency"], i["title"]) for i in page["items"]
            if i["source_event_type"] == "IssueDeadlinePassed"]  # fmt: skip
