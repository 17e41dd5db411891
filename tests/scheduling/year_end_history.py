"""A scripted 2024 for the year-end evaluation tests: two units, one project each, planned to start on Monday
4 November 2024 (ISO week 45), so that eight weekly deadlines fall in the year (Fridays 8 Nov ... 27 Dec, 17:00).

责任单位甲 (unit-a), project 甲 (annual plan 4000 万元, sponsored by leader-a):
- reports (500 each): W45, W46, W48-W51 on Friday 10:00 (on time), W47 on Saturday (late), W52 never. All accepted
  but W51 (left pending): investment 3000 / 4000 = 75.00; reports 6 / 8 = 75.00.
- milestones (baseline): m1 due 20 Nov done 18 Nov; m2 due 10 Dec done 12 Dec (late); m3 due 20 Dec never done:
  1 / 3 = 33.33.
- issues: ia1 due 15 Nov resolved 14 Nov; ia2 due 20 Nov resolved 25 Nov (late); ia3 withdrawn: 1 / 2 = 50.00.
- score 30.00 + 10.00 + 7.50 + 11.25 = 58.75, 不合格.
责任单位乙 (unit-b), project 乙 (annual plan 2000 万元, no sponsor):
- reports (400 each): W45-W48 on time, W49 and W50 on the Monday after (late), W51 and W52 never; all accepted:
  investment 2400 / 2000, capped at 100.00; reports 4 / 8 = 50.00.
- milestones: n1 due 25 Nov done 25 Nov; n2 due 15 Dec, re-baselined by hq to 28 Dec, done 27 Dec: 2 / 2 = 100.00.
- issues: ib1 due 1 Dec still open (late); ib2 due 10 Jan 2025 open (not counted); ib3 due 20 Nov, extended to
  30 Nov, resolved 28 Nov (on time): 1 / 2 = 50.00.
- score 40.00 + 30.00 + 7.50 + 7.50 = 85.00, 良好.

Issue events are appended to the log as issue_coordination writes them (the suite's real NATS; scheduling learns of
issues only from the log). The clock is one SimulatedClock for every writer and only moves forward.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any

from pydantic import BaseModel

from shared.catalogue.issue_coordination import (
    Deadline,
    DeadlineSource,
    ExtensionDecided,
    IssueAssigned,
    IssueCategory,
    IssueRaised,
    IssueResolved,
    IssueWithdrawn,
    MeetingDecisionTracked,
    SupervisionOrderClosed,
    SupervisionOrderIssued,
)
from shared.catalogue.scheduling import Colour, DimensionLight, StatusLightChanged
from shared.clock import CHINA
from shared.envelope import Actor, Role
from shared.eventstore import Context, Position
from tests.platform import auth
from tests.scheduling.conftest import Platform

MONDAYS = [date(2024, 11, 4) + timedelta(weeks=i) for i in range(8)]  # W45 ... W52
HQ_CTX = Context(actor=Actor(org_id="hq", role=Role.HQ, user="test"), correlation_id="year-end-test")


def unit_ctx(unit_id: str) -> Context:
    return Context(actor=Actor(org_id=unit_id, role=Role.UNIT, user="test"), correlation_id="year-end-test")


def cst(day: date, hour: int) -> datetime:
    return datetime.combine(day, time(hour), tzinfo=CHINA)


@dataclass
class History:
    projects: dict[str, str] = field(default_factory=dict)  # unit -> project id
    plans: dict[str, str] = field(default_factory=dict)  # unit -> plan id
    issues: dict[str, str] = field(default_factory=dict)  # issue id -> unit
    positions: dict[str, Position] = field(default_factory=dict)


async def post(platform: Platform, path: str, body: dict[str, Any], token: str, service: str = "scheduling") -> Any:
    client = platform.scheduling if service == "scheduling" else platform.intake
    r = await client.post(path, json=body, headers=auth(platform.tokens[token]))
    assert r.status_code in (200, 201), (path, r.text)
    return r.json()


async def _issue_event(platform: Platform, h: History, issue_id: str, payload: BaseModel, ctx: Context) -> None:
    stored = await platform.scheduling_rt.store.append(
        "issue", issue_id, payload, expected=h.positions.get(issue_id, Position()), context=ctx
    )
    h.positions[issue_id] = Position().after(stored)


async def _issue(platform: Platform, h: History, issue_id: str, unit: str, due: datetime) -> None:
    """Raised by the unit and assigned by hq (to the unit) with `due`, at the clock's moment."""
    h.issues[issue_id] = unit
    raised = IssueRaised(project_id=h.projects[unit], programme_id="prog", category=IssueCategory.LAND,
                         description=f"问题 {issue_id}", help_requested="协调解决")  # fmt: skip
    await _issue_event(platform, h, issue_id, raised, unit_ctx(unit))
    assigned = IssueAssigned(lead_unit_id=unit, deadline=due, deadline_source=DeadlineSource.HQ)
    await _issue_event(platform, h, issue_id, assigned, HQ_CTX)


async def _report(platform: Platform, h: History, unit: str, week: int, amount: str, recorded: datetime) -> str:
    platform.clock.current = recorded
    monday = MONDAYS[week]
    body = {"period_start": monday.isoformat(), "period_end": (monday + timedelta(days=6)).isoformat(),
            "investment_this_period": amount, "image_progress_pct": "10"}  # fmt: skip
    report = await post(platform, f"/v1/projects/{h.projects[unit]}/progress-reports", body, unit, "intake")
    report_id: str = report["report_id"]
    return report_id


async def _accept(platform: Platform, h: History, unit: str, report_id: str) -> None:
    path = f"/v1/projects/{h.projects[unit]}/progress-reports/{report_id}/review"
    await post(platform, path, {"decision": "accept"}, "hq", "intake")


async def _complete(platform: Platform, h: History, unit: str, milestone: str, day: date) -> None:
    platform.clock.current = cst(day, 11)
    await post(platform, f"/v1/plans/{h.plans[unit]}/milestones/{milestone}/complete", {"done_on": day.isoformat()},
               unit)  # fmt: skip


async def _projects_and_plans(platform: Platform, h: History) -> None:
    platform.clock.current = cst(date(2024, 11, 1), 9)
    h.projects["unit-a"] = await platform.project(name="项目甲", unit_id="unit-a", annual_planned_investment="4000",
                                                  planned_start="2024-11-04")  # fmt: skip
    h.projects["unit-b"] = await platform.project(name="项目乙", unit_id="unit-b", annual_planned_investment="2000",
                                                  planned_start="2024-11-04", sponsor_leader_id=None)  # fmt: skip
    milestones = {
        "unit-a": [("m1", "2024-11-20"), ("m2", "2024-12-10"), ("m3", "2024-12-20")],
        "unit-b": [("n1", "2024-11-25"), ("n2", "2024-12-15")],
    }
    for unit, ms in milestones.items():
        body = {"project_id": h.projects[unit], "year": 2024, "annual_target_investment": "1200",
                "monthly_investment": ["100"] * 12,
                "milestones": [{"milestone_id": m, "name": f"节点{m}", "planned_date": d, "unit_id": unit}
                               for m, d in ms]}  # fmt: skip
        h.plans[unit] = (await post(platform, "/v1/plans", body, "hq"))["id"]
        await post(platform, f"/v1/plans/{h.plans[unit]}/baseline", {}, "hq")
    await platform.synced()


async def script_2024(platform: Platform) -> History:
    h = History()
    await _projects_and_plans(platform, h)
    a, b = "unit-a", "unit-b"
    platform.clock.current = cst(date(2024, 11, 5), 9)
    await _issue(platform, h, "ia1", a, cst(date(2024, 11, 15), 18))
    platform.clock.current = cst(date(2024, 11, 6), 9)
    await _issue(platform, h, "ia2", a, cst(date(2024, 11, 20), 18))
    platform.clock.current = cst(date(2024, 11, 7), 9)
    await _issue(platform, h, "ia3", a, cst(date(2024, 11, 20), 18))
    platform.clock.current = cst(date(2024, 11, 8), 9)
    await _issue_event(platform, h, "ia3", IssueWithdrawn(reason="重复提出"), unit_ctx(a))
    # Weeks 45 and 46: both on time.
    for week in (0, 1):
        friday = MONDAYS[week] + timedelta(days=4)
        await _accept(platform, h, a, await _report(platform, h, a, week, "500", cst(friday, 10)))
        await _accept(platform, h, b, await _report(platform, h, b, week, "400", cst(friday, 10)))
        if week == 0:
            platform.clock.current = cst(date(2024, 11, 10), 9)
            await _issue(platform, h, "ib1", b, cst(date(2024, 12, 1), 18))
            platform.clock.current = cst(date(2024, 11, 11), 9)
            await _issue(platform, h, "ib3", b, cst(date(2024, 11, 20), 18))
    platform.clock.current = cst(date(2024, 11, 14), 15)
    await _issue_event(platform, h, "ia1", IssueResolved(answer="已解决"), unit_ctx(a))
    await _complete(platform, h, a, "m1", date(2024, 11, 18))
    platform.clock.current = cst(date(2024, 11, 19), 9)
    extension = Deadline(deadline=cst(date(2024, 11, 30), 18), deadline_source=DeadlineSource.HQ)
    granted = ExtensionDecided(request_id="x1", granted=True, reason="同意延期", deadline=extension)
    await _issue_event(platform, h, "ib3", granted, HQ_CTX)
    # Week 47: 甲 late (Saturday), 乙 on time.
    await _accept(platform, h, b, await _report(platform, h, b, 2, "400", cst(date(2024, 11, 22), 10)))
    await _accept(platform, h, a, await _report(platform, h, a, 2, "500", cst(date(2024, 11, 23), 10)))
    platform.clock.current = cst(date(2024, 11, 25), 9)
    await _issue_event(platform, h, "ia2", IssueResolved(answer="已解决"), unit_ctx(a))
    await _complete(platform, h, b, "n1", date(2024, 11, 25))
    platform.clock.current = cst(date(2024, 11, 28), 9)
    await _issue_event(platform, h, "ib3", IssueResolved(answer="已解决"), unit_ctx(b))
    # Week 48: both on time.
    await _accept(platform, h, a, await _report(platform, h, a, 3, "500", cst(date(2024, 11, 29), 10)))
    await _accept(platform, h, b, await _report(platform, h, b, 3, "400", cst(date(2024, 11, 29), 10)))
    platform.clock.current = cst(date(2024, 12, 2), 9)
    await _issue(platform, h, "ib2", b, cst(date(2025, 1, 10), 18))
    # Week 49: 甲 on time, 乙 on Monday 9 December (late).
    await _accept(platform, h, a, await _report(platform, h, a, 4, "500", cst(date(2024, 12, 6), 10)))
    await _accept(platform, h, b, await _report(platform, h, b, 4, "400", cst(date(2024, 12, 9), 10)))
    platform.clock.current = cst(date(2024, 12, 10), 9)
    await post(platform, f"/v1/plans/{h.plans[b]}/milestones/n2/rebaseline",
               {"to_date": "2024-12-28", "reason": "设备到货推迟,经批准调整"}, "hq")  # fmt: skip
    await _complete(platform, h, a, "m2", date(2024, 12, 12))
    # Week 50: 甲 on time, 乙 on Monday 16 December (late); week 51: 甲 on time, left pending review.
    await _accept(platform, h, a, await _report(platform, h, a, 5, "500", cst(date(2024, 12, 13), 10)))
    await _accept(platform, h, b, await _report(platform, h, b, 5, "400", cst(date(2024, 12, 16), 10)))
    await _report(platform, h, a, 6, "500", cst(date(2024, 12, 20), 10))
    await _complete(platform, h, b, "n2", date(2024, 12, 27))
    await platform.synced()
    return h


EXPECTED = {  # unit -> part -> (value, weight, weighted); then score, grade, rank
    "unit-a": {"investment_completion": ("75.00", 40, "30.00"), "milestones_on_time": ("33.33", 30, "10.00"),
               "issues_resolved_on_time": ("50.00", 15, "7.50"), "reports_on_time": ("75.00", 15, "11.25")},
    "unit-b": {"investment_completion": ("100.00", 40, "40.00"), "milestones_on_time": ("100.00", 30, "30.00"),
               "issues_resolved_on_time": ("50.00", 15, "7.50"), "reports_on_time": ("50.00", 15, "7.50")},
}  # fmt: skip
EXPECTED_SCORES = {"unit-a": ("58.75", "fail", 2), "unit-b": ("85.00", "good", 1)}


async def record_2024(platform: Platform) -> dict[str, Any]:
    """hq records the evaluation on Sunday 5 January 2025 (as of 31 December 2024); the recorded answer."""
    platform.clock.current = cst(date(2025, 1, 5), 10)
    await post(platform, "/v1/evaluations", {"programme_id": "prog"}, "hq")
    await platform.synced()
    return await evaluations(platform)


async def evaluations(platform: Platform, token: str = "hq", **params: Any) -> dict[str, Any]:
    """The page of recorded scores of prog's 2024 (every unit `token` may read, ranked)."""
    r = await platform.scheduling.get("/v1/evaluations", params={"programme_id": "prog", "year": 2024, **params},
                                      headers=auth(platform.tokens[token]))  # fmt: skip
    assert r.status_code == 200, r.text
    answer: dict[str, Any] = r.json()
    return answer


# -- what a rule version may add (docs/adr/0037) ------------------------------------------------------------------
# After script_2024 (its clock at Friday 27 December 11:00), between then and the end of the year:
# - 督办 orders: oa1 about 甲, due 30 Dec 18:00, closed 30 Dec 10:00 (on time); oa2 about issue ia2 (so 甲's), due
#   30 Dec 18:00, never closed (late); ob1 about 乙, due 28 Dec 18:00, closed 30 Dec 11:00 (late); ob2 about 乙,
#   due 15 Jan 2025 (not counted). 甲 1 / 2 = 50.00; 乙 0 / 1 = 0.00.
# - a dispatch meeting's decision db1 for 乙 (tracked as an issue), due 30 Dec 18:00, resolved 30 Dec 12:00: on time.
#   It counts among 乙's issues too: 2 / 3 = 66.67. 甲 has no decision: full marks.
# - 甲's lights, recorded on 28 December by a catch-up for the days they were evaluated for: red from 18 Nov,
#   yellow from 2 Dec, red from 20 Dec. Red on a day of ISO weeks 2024-W47, W48, W51, W52 and 2025-W01 (30-31 Dec):
#   5 weeks red of the 7 it had a light. 乙 has no light: 0 weeks.
ADDED_RULES = {
    "weights": {"investment_completion": 30, "milestones_on_time": 30, "issues_resolved_on_time": 10,
                "reports_on_time": 10, "supervision_orders_on_time": 10, "meeting_decisions_on_time": 10},
    "deductions": {"red_weeks": {"points_each": "1", "at_most": "3"}},
}  # fmt: skip
# 甲: 22.50 + 10.00 (33.33 × 30% = 9.999) + 5.00 + 7.50 + 5.00 + 10.00 − 3.00 (5 weeks, at most 3) = 57.00 (不合格);
# 乙: 30.00 + 30.00 + 6.67 (66.67 × 10%) + 5.00 + 0.00 + 10.00 − 0.00 = 81.67 (良好).
EXPECTED_ADDED = {
    "unit-a": {"investment_completion": ("75.00", 30, "22.50"), "milestones_on_time": ("33.33", 30, "10.00"),
               "issues_resolved_on_time": ("50.00", 10, "5.00"), "reports_on_time": ("75.00", 10, "7.50"),
               "supervision_orders_on_time": ("50.00", 10, "5.00"),
               "meeting_decisions_on_time": ("100.00", 10, "10.00"), "red_weeks": ("3.00", 0, "-3.00")},
    "unit-b": {"investment_completion": ("100.00", 30, "30.00"), "milestones_on_time": ("100.00", 30, "30.00"),
               "issues_resolved_on_time": ("66.67", 10, "6.67"), "reports_on_time": ("50.00", 10, "5.00"),
               "supervision_orders_on_time": ("0.00", 10, "0.00"),
               "meeting_decisions_on_time": ("100.00", 10, "10.00"), "red_weeks": ("0.00", 0, "0.00")},
}  # fmt: skip
EXPECTED_ADDED_SCORES = {"unit-a": ("57.00", "fail", 2), "unit-b": ("81.67", "good", 1)}


async def _order(platform: Platform, h: History, order_id: str, unit: str, due: datetime, **about: str) -> None:
    issued = SupervisionOrderIssued(
        deadline=due, deadline_source=DeadlineSource.HQ, target_unit_id=unit, programme_id="prog",
        subject=f"督办 {order_id}", requirement="限期整改", **about,
    )  # fmt: skip
    stored = await platform.scheduling_rt.store.append("supervision_order", order_id, issued, expected=Position(),
                                                       context=HQ_CTX)  # fmt: skip
    h.positions[order_id] = Position().after(stored)


async def _close(platform: Platform, h: History, order_id: str) -> None:
    stored = await platform.scheduling_rt.store.append(
        "supervision_order", order_id, SupervisionOrderClosed(conclusion="整改到位"), expected=h.positions[order_id],
        context=HQ_CTX,
    )  # fmt: skip
    h.positions[order_id] = Position().after(stored)


def _light(project_id: str, day: date, colour: Colour, previous: Colour | None) -> StatusLightChanged:
    dimension = DimensionLight(colour=colour, reasons=[] if colour == Colour.GREEN else ["测试"])
    return StatusLightChanged(
        project_id=project_id, as_of=day, colour=colour, previous_colour=previous, milestones=dimension,
        investment=dimension, reporting=dimension, rule_version=1,
    )  # fmt: skip


async def script_added(platform: Platform, h: History) -> None:
    """The orders, the decision and the lights above, appended as their services write them."""
    a, b = "unit-a", "unit-b"
    due_30 = cst(date(2024, 12, 30), 18)
    platform.clock.current = cst(date(2024, 12, 27), 12)
    await _order(platform, h, "oa1", a, due_30, project_id=h.projects[a])
    await _order(platform, h, "oa2", a, due_30, issue_id="ia2")
    await _order(platform, h, "ob1", b, cst(date(2024, 12, 28), 18), project_id=h.projects[b])
    await _order(platform, h, "ob2", b, cst(date(2025, 1, 15), 18), project_id=h.projects[b])
    platform.clock.current = cst(date(2024, 12, 27), 16)
    tracked = MeetingDecisionTracked(
        meeting_id="meeting-1", decision_id="d1", text="协调设备进场", owner_unit_id=b, deadline_day=date(2024, 12, 30),
        deadline=due_30, project_id=h.projects[b], programme_id="prog", decided_by="hq",
    )  # fmt: skip
    h.issues["db1"] = b
    await _issue_event(platform, h, "db1", tracked, HQ_CTX)
    platform.clock.current = cst(date(2024, 12, 28), 9)
    light = Position()
    for day, colour, previous in ((date(2024, 11, 18), Colour.RED, None),
                                  (date(2024, 12, 2), Colour.YELLOW, Colour.RED),
                                  (date(2024, 12, 20), Colour.RED, Colour.YELLOW)):  # fmt: skip
        stored = await platform.scheduling_rt.store.append(
            "light", h.projects[a], _light(h.projects[a], day, colour, previous), expected=light, context=HQ_CTX
        )
        light = Position().after(stored)
    platform.clock.current = cst(date(2024, 12, 30), 10)
    await _close(platform, h, "oa1")
    platform.clock.current = cst(date(2024, 12, 30), 11)
    await _close(platform, h, "ob1")
    platform.clock.current = cst(date(2024, 12, 30), 12)
    await _issue_event(platform, h, "db1", IssueResolved(answer="设备已进场"), unit_ctx(b))
    await platform.synced()
