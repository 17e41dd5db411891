"""Calendars, rules and escalation over HTTP against real servers: a deadline kept under a later calendar version,
hq's run for a day (once, never after today), hq's escalation by hand, waiting for the raiser, refusals."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import date, datetime
from typing import Any

import pytest

from shared.clock import CHINA
from shared.settings import Settings
from tests.issue_coordination.conftest import Platform
from tests.issue_coordination.quiet import quiet_platform_of


def cst(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=CHINA)


def at(text: str) -> datetime:
    return datetime.fromisoformat(text)


@pytest.fixture
async def hand_run(settings: Settings) -> AsyncIterator[Platform]:
    """The platform without the escalation timer: here only hq's runs and hand escalate."""
    async with quiet_platform_of(settings) as p:
        yield p


async def assigned(p: Platform, project_id: str) -> str:
    """A land issue (15 working days by the seeded rules) raised by unit-a and assigned to unit-b by the rules."""
    issue_id = await p.raise_issue(project_id)
    answer = await p.act(issue_id, "assignment", "hq", {"lead_unit_id": "unit-b"})
    await p.synced()
    assert answer["version"] == 2
    return issue_id


async def run(p: Platform, day: str, org: str = "hq", expect: int = 200) -> dict[str, Any]:
    r = await p.issues.post("/v1/escalation-runs", json={"day": day}, headers=p.h(org))
    assert r.status_code == expect, r.text
    await p.synced()
    answer: dict[str, Any] = r.json()
    return answer


async def test_a_deadline_keeps_its_calendar_version_and_the_run_escalates_once(hand_run: Platform) -> None:
    p = hand_run
    p.clock.set_day(date(2024, 9, 27), hour=10)
    project_id = await p.project()
    first = await p.issue(await assigned(p, project_id))
    # 15 working days from Friday 09-27: 09-29 (调休上班), 09-30, 10-08 .. 10-12 (Saturday 调休上班), ... 10-23.
    assert at(first["deadline"]) == cst("2024-10-23T18:00")
    assert (first["deadline_source"], first["rule_version"], first["calendar_version"]) == ("rules", 1, 1)

    # hq republishes 2024 with two more days off (10-21 and 10-22), in force since September.
    calendars = await p.issues.get("/v1/calendars", headers=p.h("unit-a"))
    assert [v["version"] for v in calendars.json()["items"]] == [1, 2], "the seeded 2024 and 2024-2026 versions"
    days = calendars.json()["items"][0]["days"]
    body = {"effective_from": "2024-09-01", "holidays": [*days["holidays"], "2024-10-21", "2024-10-22"],
            "make_up_working_days": days["make_up_working_days"], "note": "本地增加两日假期(测试)"}  # fmt: skip
    r = await p.issues.post("/v1/calendars", json=body, headers=p.h("hq"))
    assert r.status_code == 201, r.text
    await p.synced()

    kept = await p.issue(first["id"])
    assert (kept["deadline"], kept["calendar_version"]) == (first["deadline"], 1), "a later version never moves it"
    second = await p.issue(await assigned(p, project_id))
    assert second["calendar_version"] == 3 and at(second["deadline"]) == cst("2024-10-25T18:00")

    p.clock.set_day(date(2024, 10, 24), hour=9)
    refused = await run(p, "2024-10-25", expect=422)
    assert refused["errors"][0]["field"] == "day"
    await run(p, "2024-10-23", org="unit-b", expect=403)
    done = await run(p, "2024-10-23")
    assert done["escalated"] == [{"issue_id": first["id"], "to_level": "hq"}] and done["checked"] == 1
    again = await run(p, "2024-10-23")
    assert again["escalated"] == [] and again["checked"] == 0, "a re-run finds its new deadline ahead"
    up = await p.issue(first["id"])
    assert up["level"] == "hq" and up["deadline_source"] == "rules"
    # hq's 5 working days from 10-23 18:00 on the calendar in force then (version 3): 10-24, 25, 28, 29, 30.
    assert at(up["deadline"]) == cst("2024-10-30T18:00") and up["calendar_version"] == 3
    assert (await p.issue(second["id"]))["level"] == "lead_unit"
    events = await p.issues_rt.store.read_aggregate("issue", first["id"])
    assert [e.envelope.type for e in events].count("IssueEscalated") == 1


async def test_hq_escalates_by_hand_once(hand_run: Platform) -> None:
    p = hand_run
    p.clock.set_day(date(2024, 9, 27), hour=10)
    project_id = await p.project()
    raised = await p.raise_issue(project_id)
    reason = {"reason": "企业反映影响开工"}
    r = await p.issues.post(f"/v1/issues/{raised}/escalations", json=reason, headers=p.h("hq"))
    assert r.status_code == 409 and r.json()["current_status"] == "raised", r.text
    issue_id = await assigned(p, project_id)

    r = await p.issues.post(f"/v1/issues/{issue_id}/escalations", json=reason, headers=p.h("unit-b"))
    assert r.status_code == 403, r.text
    r = await p.issues.post(f"/v1/issues/{issue_id}/escalations", json={"reason": ""}, headers=p.h("hq"))
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "reason", r.text

    key = {"Idempotency-Key": "escalate-once"}
    first = await p.issues.post(f"/v1/issues/{issue_id}/escalations", json=reason, headers=p.h("hq", **key))
    assert first.status_code == 200, first.text
    retried = await p.issues.post(f"/v1/issues/{issue_id}/escalations", json=reason, headers=p.h("hq", **key))
    assert retried.json() == first.json(), "a keyed retry answers as the first did"
    again = {"reason": "再次升级", "to_level": "hq"}
    r = await p.issues.post(f"/v1/issues/{issue_id}/escalations", json=again, headers=p.h("hq"))
    assert r.status_code == 409 and r.json()["errors"][0]["field"] == "to_level", "hq is reached already"
    await p.synced()
    issue = await p.issue(issue_id)
    assert issue["level"] == "hq" and issue["version"] == 3
    # From Friday 10:00, hq's 5 working days: 09-29, 09-30, 10-08, 10-09, 10-10.
    assert at(issue["deadline"]) == cst("2024-10-10T18:00")
    timeline = await p.issues.get(f"/v1/issues/{issue_id}/timeline", headers=p.h("hq"))
    escalated = [e for e in timeline.json()["items"] if e["type"] == "IssueEscalated"]
    assert len(escalated) == 1 and escalated[0]["payload"]["manual"] is True
    assert escalated[0]["payload"]["reason"].startswith("指挥部办公室手动升级:企业反映影响开工")


async def test_waiting_for_the_raiser_moves_the_deadline_of_the_run(hand_run: Platform) -> None:
    p = hand_run
    p.clock.set_day(date(2024, 10, 8), hour=10)  # a Tuesday: 15 working days end on 10-28 (10-12 worked)
    project_id = await p.project()
    issue_id = await assigned(p, project_id)
    assert at((await p.issue(issue_id))["deadline"]) == cst("2024-10-28T18:00")
    await p.act(issue_id, "acceptance", "unit-b", {})
    asked = await p.act(issue_id, "information-requests", "unit-b", {"question": "请补充用地红线图"}, expect=201)
    p.clock.set_day(date(2024, 10, 11), hour=9)  # 10-08's end does not count (start day); 10-09, 10-10 do
    await p.act(issue_id, f"information-requests/{asked['request_id']}/answer", "unit-a", {"answer": "已补充"})
    await p.synced()
    p.clock.set_day(date(2024, 10, 29), hour=19)
    for day in ("2024-10-28", "2024-10-29"):
        assert (await run(p, day))["escalated"] == [], "two working days later: 10-30"
    p.clock.set_day(date(2024, 10, 31), hour=9)
    assert (await run(p, "2024-10-30"))["escalated"] == [{"issue_id": issue_id, "to_level": "hq"}]


async def test_rule_data_is_published_by_hq_and_checked(hand_run: Platform) -> None:
    p = hand_run
    bad = {"effective_from": "2024-01-01", "holidays": ["2024-10-12"], "make_up_working_days": ["2024-10-12"]}
    r = await p.issues.post("/v1/calendars", json=bad, headers=p.h("hq"))
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "make_up_working_days", r.text
    r = await p.issues.post("/v1/calendars", json={"effective_from": "2024-01-01"}, headers=p.h("unit-a"))
    assert r.status_code == 403, r.text
    rules = {"effective_from": "2024-01-01", "rules": {"escalation": [{"level": "mayor", "working_days": 3},
                                                                     {"level": "hq", "working_days": 3}]}}  # fmt: skip
    r = await p.issues.post("/v1/issue-rules", json=rules, headers=p.h("hq"))
    assert r.status_code == 422 and "顺序" in r.text, r.text
    r = await p.issues.post("/v1/issue-rules", json={"effective_from": "2024-01-01", "rules": {"default_working_days":
                            "5"}}, headers=p.h("hq"))  # fmt: skip
    assert r.status_code == 422 and r.json()["errors"][0]["field"].endswith("default_working_days"), r.text
    listed = await p.issues.get("/v1/issue-rules", headers=p.h("auditor"))
    assert listed.status_code == 200 and listed.json()["total"] == 1
    assert listed.json()["items"][0]["rules"]["mayor_org_id"] == "mayor"
