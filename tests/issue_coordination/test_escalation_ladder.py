"""The escalation ladder against real servers, driven by the platform clock (scheduling's POST /v1/clock/advance):
an issue assigned before the 2024 National Day climbs lead unit -> hq -> sponsoring leader -> mayor, each step once,
at the end of its deadline in working days (the make-up Sunday 09-29 and Saturday 10-12 counted, 10-01..07 not)."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import httpx
import pytest

from services.intake.bootstrap import create_app as create_intake
from services.intake.cli import bootstrap_organisation
from services.issue_coordination.bootstrap import create_app as create_issue_coordination
from services.issue_coordination.timers import ISSUE_ESCALATION
from services.scheduling.bootstrap import create_app as create_scheduling
from shared.clock import CHINA, SimulatedClock
from shared.envelope import Role
from shared.platform_clock import PlatformClock
from shared.runtime import Runtime
from shared.settings import Settings
from tests.platform import SYSTEM_CTX, auth, bootstrap_orgs, project_body, running, runtime_of, wait_until

# Short rule data for the test: 2 working days at the lead unit, then 1 at hq, 1 at the leader, 3 at the mayor.
RULES = {
    "default_working_days": 2,
    "deadlines": [],
    "escalation": [
        {"level": "hq", "working_days": 1},
        {"level": "leader", "working_days": 1},
        {"level": "mayor", "working_days": 3},
    ],
    "mayor_org_id": "mayor-x",
}


def at(text: str) -> datetime:
    return datetime.fromisoformat(text)


def cst(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=CHINA)


@dataclass
class Clocked:
    intake: httpx.AsyncClient
    scheduling: httpx.AsyncClient
    issues: httpx.AsyncClient
    issues_rt: Runtime
    tokens: dict[str, str]

    def h(self, org: str) -> dict[str, str]:
        return auth(self.tokens[org])

    async def advance(self, days: int, through: str) -> None:
        """Move the platform clock on and wait until the escalation timer has run the period of `through`."""
        r = await self.scheduling.post("/v1/clock/advance", json={"days": days}, headers=self.h("hq"))
        assert r.status_code == 200, r.text
        await wait_until(lambda: self._ran(through), timeout=20, what=f"the escalation run of {through}")
        assert await self.issues_rt.settled(10)

    async def _ran(self, label: str) -> bool:
        timers = self.issues_rt.timers
        return timers is not None and (ISSUE_ESCALATION, label) in timers.runs

    async def issue(self, issue_id: str, org: str = "hq") -> httpx.Response:
        return await self.issues.get(f"/v1/issues/{issue_id}", headers=self.h(org))

    async def escalations(self, issue_id: str) -> list[dict[str, Any]]:
        events = await self.issues_rt.store.read_aggregate("issue", issue_id)
        return [e.envelope.payload for e in events if e.envelope.type == "IssueEscalated"]


@pytest.fixture
async def clocked(settings: Settings) -> AsyncIterator[Clocked]:
    base = SimulatedClock()
    base.set_day(date(2024, 9, 27), hour=10)  # a Friday, 10:00 China time
    fast = dataclasses.replace(settings, timer_poll_s=0.2)
    intake_app = create_intake(dataclasses.replace(settings, replica_id="intake-1"))
    scheduling_app = create_scheduling(
        dataclasses.replace(fast, replica_id="scheduling-1"), clock=PlatformClock(base), monitor=False, react=False
    )
    issues_app = create_issue_coordination(dataclasses.replace(fast, replica_id="issues-1"), clock=PlatformClock(base))
    async with AsyncExitStack() as stack:
        intake = await stack.enter_async_context(running(intake_app))
        scheduling = await stack.enter_async_context(running(scheduling_app))
        issues = await stack.enter_async_context(running(issues_app))
        store = runtime_of(intake_app).store
        tokens = await bootstrap_orgs(store)
        tokens["mayor-x"] = await bootstrap_organisation(
            store, "mayor-x", "市长", Role.LEADER, SYSTEM_CTX, demo=False, label="test"
        )
        c = Clocked(intake, scheduling, issues, runtime_of(issues_app), tokens)
        for rt in (runtime_of(intake_app), runtime_of(scheduling_app), c.issues_rt):
            assert await rt.runner.wait_for(await store.last_seq(), 10)  # every service knows the tokens
        hq = c.h("hq")
        r = await intake.post("/v1/programmes", json={"id": "prog", "name": "2024 三十工程", "year": 2024}, headers=hq)
        assert r.status_code == 201, r.text
        assert await c.issues_rt.runner.wait_for(await store.last_seq(), 10)
        yield c


async def test_the_ladder_across_the_national_day_week(clocked: Clocked) -> None:
    c = clocked
    r = await c.issues.post("/v1/issue-rules", json={"effective_from": "2024-01-01", "rules": RULES}, headers=c.h("hq"))
    assert r.status_code == 201, r.text
    rules = await c.issues.get("/v1/issue-rules", params={"min_seq": r.json()["seq"]}, headers=c.h("unit-a"))
    assert [v["version"] for v in rules.json()["items"]] == [1, 2]

    r = await c.intake.post("/v1/projects", json=project_body(), headers=c.h("hq"))  # sponsored by leader-a
    assert r.status_code == 201, r.text
    project_id = r.json()["id"]
    assert await c.issues_rt.runner.wait_for(r.json()["seq"], 10)
    body = {"project_id": project_id, "category": "land", "description": "用地指标未落实", "help_requested": "协调"}
    r = await c.issues.post("/v1/issues", json=body, headers=c.h("unit-a"))
    assert r.status_code == 201, r.text
    issue_id = r.json()["id"]
    r = await c.issues.post(f"/v1/issues/{issue_id}/assignment", json={"lead_unit_id": "unit-b"}, headers=c.h("hq"))
    assert r.status_code == 200, r.text
    assert await c.issues_rt.settled(10)

    # Friday 09-27: two working days are Sunday 09-29 (调休上班) and Monday 09-30, to 18:00.
    issue = (await c.issue(issue_id)).json()
    assert at(issue["deadline"]) == cst("2024-09-30 18:00")
    assert (issue["deadline_source"], issue["rule_version"], issue["calendar_version"]) == ("rules", 2, 1)
    assert issue["level"] == "lead_unit"

    await c.advance(3, "2024-09-29")  # to Monday 09-30 10:00: the runs of 09-27, 09-28, 09-29 find nothing due
    assert await c.escalations(issue_id) == []

    await c.advance(1, "2024-09-30")  # the run of Monday 18:30: the deadline passed
    [to_hq] = await c.escalations(issue_id)
    assert (to_hq["from_level"], to_hq["to_level"], to_hq["manual"]) == ("lead_unit", "hq", False)
    assert at(to_hq["missed_deadline"]) == cst("2024-09-30 18:00")
    assert at(to_hq["deadline"]) == cst("2024-10-08 18:00"), "one working day after 09-30 is Tuesday 10-08, 18:00"
    assert "升级至指挥部办公室" in to_hq["reason"] and "至 2024-10-08 18:00" in to_hq["reason"]
    assert (await c.issue(issue_id, "mayor-x")).status_code == 403, "not the mayor's yet"

    await c.advance(7, "2024-10-07")  # through the holiday week: nothing more
    assert len(await c.escalations(issue_id)) == 1
    await c.advance(1, "2024-10-08")
    to_leader = (await c.escalations(issue_id))[1]
    assert (to_leader["to_level"], to_leader["target_org_id"]) == ("leader", "leader-a")
    assert at(to_leader["deadline"]) == cst("2024-10-09 18:00")

    await c.advance(3, "2024-10-11")  # runs of 10-09 (to the mayor), 10-10 and 10-11 (not due before 10-12 18:00)
    steps = await c.escalations(issue_id)
    assert [s["to_level"] for s in steps] == ["hq", "leader", "mayor"], "each step once"
    to_mayor = steps[2]
    assert to_mayor["target_org_id"] == "mayor-x"
    assert at(to_mayor["deadline"]) == cst("2024-10-12 18:00"), "10-10, 10-11 and the make-up Saturday 10-12"
    assert (to_mayor["rule_version"], to_mayor["calendar_version"]) == (2, 1)

    seen = await c.issue(issue_id, "mayor-x")
    assert seen.status_code == 200, seen.text
    assert seen.json()["level"] == "mayor" and seen.json()["escalated_to"] == ["leader-a", "mayor-x"]
    listed = await c.issues.get("/v1/issues", params={"level": "mayor"}, headers=c.h("mayor-x"))
    assert [i["id"] for i in listed.json()["items"]] == [issue_id]
    await c.advance(3, "2024-10-14")  # the top of the ladder: it stays with the mayor, overdue
    assert len(await c.escalations(issue_id)) == 3
    timeline = (await c.issues.get(f"/v1/issues/{issue_id}/timeline", headers=c.h("hq"))).json()["items"]
    assert [e["summary"] for e in timeline].count("逐级上报(升级)") == 3
    # Where the ladder ends the overdue notice takes over: once for the missed deadline, though the runs of 10-12,
    # 10-13 and 10-14 each found it overdue.
    [overdue] = [e for e in timeline if e["type"] == "IssueDeadlinePassed"]
    assert at(overdue["payload"]["deadline"]) == cst("2024-10-12 18:00")
    assert (overdue["payload"]["level"], overdue["payload"]["target_org_id"]) == ("mayor", "mayor-x")
