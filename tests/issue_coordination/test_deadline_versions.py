"""Every deadline hq sets by hand (an assignment's, a granted extension, a 督办 order's) records `deadline_source`
and the calendar version in force that day; a calendar version published later, even one back-dated over it, never
moves it: the ladder still judges its pauses on the version it recorded. Against the real servers."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import date, datetime
from typing import Any

import pytest

from shared.clock import CHINA
from shared.settings import Settings
from tests.issue_coordination.conftest import Platform
from tests.issue_coordination.quiet import quiet_platform_of


@pytest.fixture
async def hand_run(settings: Settings) -> AsyncIterator[Platform]:
    async with quiet_platform_of(settings) as p:
        yield p


def cst(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=CHINA)


async def deadline_payloads(p: Platform, aggregate: str, aggregate_id: str) -> list[dict[str, Any]]:
    """The deadline part of each event that set one, as the log holds it."""
    keys = ("deadline_source", "rule_version", "calendar_version")
    found = []
    for e in await p.issues_rt.store.read_aggregate(aggregate, aggregate_id):
        payload = e.envelope.payload
        carried = payload.get("deadline") if e.envelope.type == "ExtensionDecided" else payload
        if isinstance(carried, dict) and "deadline_source" in carried:
            found.append({"type": e.envelope.type, **{k: carried.get(k) for k in keys}})
    return found


async def test_hand_set_deadlines_record_the_calendar_version_and_a_later_one_never_moves_them(
    hand_run: Platform,
) -> None:
    p = hand_run
    p.clock.set_day(date(2024, 10, 14), hour=10)  # a Monday; calendar version 1 is in force in 2024
    project_id = await p.project()
    issue_id = await p.raise_issue(project_id)
    await p.act(issue_id, "assignment", "hq", {"lead_unit_id": "unit-b", "deadline": "2024-10-18T18:00:00+08:00"})
    await p.act(issue_id, "acceptance", "unit-b")
    await p.synced()
    # A 督办 order's deadline given by hand records the version too.
    order = await p.issues.post("/v1/supervision-orders", headers=p.h("supervision"), json={
        "target_unit_id": "unit-b", "issue_id": issue_id, "subject": "用地", "requirement": "限期解决",
        "deadline": "2024-10-31T18:00:00+08:00"})  # fmt: skip
    assert order.status_code == 201, order.text

    # One working day (10-15) ends while the lead unit waits for the raiser: the deadline moves to Monday 10-21.
    p.clock.set_day(date(2024, 10, 15), hour=10)
    asked = await p.act(issue_id, "information-requests", "unit-b", {"question": "请补充用地红线图"}, expect=201)
    p.clock.set_day(date(2024, 10, 16), hour=10)
    await p.act(issue_id, f"information-requests/{asked['request_id']}/answer", "unit-a", {"answer": "已补充"})
    await p.synced()

    # A version back-dated over the whole year makes 10-21 a holiday: had it been used, the deadline were 10-22.
    calendars = (await p.issues.get("/v1/calendars", headers=p.h("hq"))).json()["items"]
    days = calendars[0]["days"]
    body = {"effective_from": "2024-01-01", "holidays": [*days["holidays"], "2024-10-21"],
            "make_up_working_days": days["make_up_working_days"], "note": "追加假日(测试)"}  # fmt: skip
    r = await p.issues.post("/v1/calendars", json=body, headers=p.h("hq"))
    assert r.status_code == 201, r.text
    await p.synced()
    issue = await p.issue(issue_id)
    assert (issue["deadline_source"], issue["calendar_version"]) == ("hq", 1)
    assert datetime.fromisoformat(issue["deadline"]) == cst("2024-10-18T18:00")

    p.clock.set_day(date(2024, 10, 22), hour=9)
    r = await p.issues.post("/v1/escalation-runs", json={"day": "2024-10-21"}, headers=p.h("hq"))
    assert r.status_code == 200, r.text
    assert r.json()["escalated"] == [{"issue_id": issue_id, "to_level": "hq"}], "judged on version 1: 10-21 worked"
    await p.synced()

    # A later extension granted by hand records the version in force on its own day (the back-dated 3 by then).
    asked = await p.act(
        issue_id,
        "extension-requests",
        "unit-b",
        {"requested_deadline": "2024-11-29T18:00:00+08:00", "reason": "需省级审批"},
        expect=201,
    )
    await p.act(issue_id, f"extension-requests/{asked['request_id']}/decision", "hq",
                {"decision": "approve", "reason": "同意"})  # fmt: skip
    assert await deadline_payloads(p, "issue", issue_id) == [
        {"type": "IssueAssigned", "deadline_source": "hq", "rule_version": None, "calendar_version": 1},
        {"type": "IssueEscalated", "deadline_source": "rules", "rule_version": 1, "calendar_version": 3},
        {"type": "ExtensionDecided", "deadline_source": "hq", "rule_version": None, "calendar_version": 3},
    ]
    assert await deadline_payloads(p, "supervision_order", order.json()["id"]) == [
        {"type": "SupervisionOrderIssued", "deadline_source": "hq", "rule_version": None, "calendar_version": 1}
    ]
