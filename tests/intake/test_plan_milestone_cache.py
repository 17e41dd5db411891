"""The plans' milestones a report names are kept in memory by the API (shared.read_notices): never stale where it
matters. A milestone removed from a plan is refused (422 naming it) once intake's projection has the revision, and
one added is accepted by a report right after the plan changed, with the project's milestones already in memory."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from services.intake.ledger import PLAN_MILESTONES_NOTICE
from shared.catalogue.scheduling import Milestone, PlanDrafted, PlanRevised
from shared.envelope import Actor, Role
from shared.eventstore import Context, Position
from tests.intake.conftest import Intake
from tests.platform import auth, project_body, wait_until

UNIT = "unit-a"
PLANNER = Context(actor=Actor(org_id="unit-a", role=Role.UNIT), correlation_id="plan")
PERMIT = Milestone(milestone_id="permit", name="施工许可", planned_date=date(2024, 3, 31), unit_id=UNIT)
START = Milestone(milestone_id="start", name="开工", planned_date=date(2024, 4, 30), unit_id=UNIT)


def _plan(pid: str, *milestones: Milestone) -> PlanDrafted:
    return PlanDrafted(
        project_id=pid, year=2024, annual_target_investment=Decimal(1200), monthly_investment=[Decimal(100)] * 12,
        milestones=list(milestones),
    )  # fmt: skip


def _report(start: str, end: str, *milestone_ids: str) -> dict[str, Any]:
    done = [{"milestone_id": m, "done_on": start} for m in milestone_ids]
    return {"period_start": start, "period_end": end, "investment_this_period": "5", "image_progress_pct": "5",
            "milestones_done": done}  # fmt: skip


async def _project_with_plan(intake: Intake, *milestones: Milestone) -> tuple[str, PlanDrafted, Position]:
    r = await intake.client.post("/v1/projects", json=project_body(), headers=auth(intake.tokens["hq"]))
    assert r.status_code == 201, r.text
    pid = str(r.json()["id"])
    plan = _plan(pid, *milestones)
    stored = await intake.runtime.store.append("plan", f"{pid}-y2024", plan, expected=Position(), context=PLANNER)
    return pid, plan, Position().after(stored)


async def _revise(intake: Intake, pid: str, plan: PlanDrafted, at: Position, *milestones: Milestone) -> int:
    revised = PlanRevised(**{**plan.model_dump(exclude={"project_id", "year"}), "milestones": list(milestones)})
    stored = await intake.runtime.store.append("plan", f"{pid}-y2024", revised, expected=at, context=PLANNER)
    return stored.seq


async def test_a_milestone_removed_from_the_plan_is_refused_once_the_projection_has_the_revision(
    intake: Intake,
) -> None:
    pid, plan, drafted_at = await _project_with_plan(intake, PERMIT, START)
    path, unit = f"/v1/projects/{pid}/progress-reports", auth(intake.tokens[UNIT])
    r = await intake.client.post(path, json=_report("2024-03-04", "2024-03-10", "permit"), headers=unit)
    assert r.status_code == 201, r.text
    remembered = intake.runtime.noticed.get(PLAN_MILESTONES_NOTICE, pid)
    assert remembered is not None and set(remembered) == {"permit", "start"}  # the API keeps both in memory

    seq = await _revise(intake, pid, plan, drafted_at, PERMIT)  # 开工 leaves the plan
    assert await intake.runtime.runner.wait_for(seq, 10)

    async def forgotten() -> bool:  # the projection's commit notifies every API process of the change
        return intake.runtime.noticed.get(PLAN_MILESTONES_NOTICE, pid) is None

    await wait_until(forgotten, what="the plan's change noticed")
    r = await intake.client.post(path, json=_report("2024-03-11", "2024-03-17", "start"), headers=unit)
    assert r.status_code == 422, r.text
    assert r.json()["errors"] == [{"field": "milestones_done.0.milestone_id", "reason": "本项目的实施方案没有该节点"}]


async def test_a_milestone_added_to_the_plan_is_accepted_right_after_with_the_old_plan_in_memory(
    intake: Intake,
) -> None:
    pid, plan, drafted_at = await _project_with_plan(intake, PERMIT)
    path, unit = f"/v1/projects/{pid}/progress-reports", auth(intake.tokens[UNIT])
    r = await intake.client.post(path, json=_report("2024-03-04", "2024-03-10", "permit"), headers=unit)
    assert r.status_code == 201, r.text
    assert set(intake.runtime.noticed.get(PLAN_MILESTONES_NOTICE, pid) or ()) == {"permit"}

    await _revise(intake, pid, plan, drafted_at, PERMIT, START)  # no wait: the report follows at once
    r = await intake.client.post(path, json=_report("2024-03-11", "2024-03-17", "start"), headers=unit)
    assert r.status_code == 201, r.text
    events = await intake.runtime.store.read_aggregate("project", pid)
    assert [m["milestone_id"] for m in events[-1].envelope.payload["milestones_done"]] == ["start"]
