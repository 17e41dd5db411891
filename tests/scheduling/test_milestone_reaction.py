"""A milestone reached through a progress report becomes the plan's own MilestoneCompleted (reaction
milestone_completion): done in the plan, in the overdue list and in the ledger's 下一节点, exactly once however often
the report is delivered; a correction that adds a milestone completes it the same way. Real intake and scheduling."""

from __future__ import annotations

from datetime import date
from typing import Any

from services.scheduling.reaction_milestones import MILESTONE_COMPLETION, milestones_reported
from services.scheduling.report_data import ledger_rows
from shared.envelope import Actor, Role
from shared.eventstore import StoredEvent
from shared.reactions import Cause, derived_event_id
from tests.platform import auth
from tests.scheduling.conftest import Platform
from tests.scheduling.test_plans import plan_body

PERMIT = [{"milestone_id": "permit", "done_on": "2024-03-20"}]
REPORT = {"period_start": "2024-03-18", "period_end": "2024-03-24", "investment_this_period": "100",
          "image_progress_pct": "10", "milestones_done": PERMIT}  # fmt: skip


async def _completions(platform: Platform, plan_id: str) -> list[StoredEvent]:
    events = await platform.scheduling_rt.store.read_aggregate("plan", plan_id)
    return [e for e in events if e.envelope.type == "MilestoneCompleted"]


async def _plan(platform: Platform, plan_id: str) -> dict[str, Any]:
    r = await platform.scheduling.get(f"/v1/plans/{plan_id}", headers=auth(platform.tokens["hq"]))
    assert r.status_code == 200, r.text
    return {m["milestone_id"]: m for m in r.json()["milestones"]}


async def test_a_reported_milestone_is_completed_in_the_plan_once(platform: Platform) -> None:
    unit = auth(platform.tokens["unit-a"])
    pid = await platform.project(planned_start="2024-01-01")
    r = await platform.scheduling.post("/v1/plans", json=plan_body(pid), headers=unit)
    assert r.status_code == 201, r.text
    plan_id = r.json()["id"]
    r = await platform.intake.post(f"/v1/projects/{pid}/progress-reports", json=REPORT, headers=unit)
    assert r.status_code == 201, r.text
    report = await platform.intake_rt.store.get(r.json()["seq"])
    await platform.synced()

    [completed] = await _completions(platform, plan_id)
    assert completed.envelope.payload == {"milestone_id": "permit", "done_on": "2024-03-20",
                                          "source": "progress_report", "report_id": r.json()["report_id"]}  # fmt: skip
    assert completed.envelope.id == derived_event_id(report.envelope.id, MILESTONE_COMPLETION, "permit")
    assert completed.envelope.causation_id == str(report.envelope.id)
    milestones = await _plan(platform, plan_id)
    assert milestones["permit"]["done_on"] == "2024-03-20" and milestones["start"]["done_on"] is None
    async with platform.scheduling_rt.pool.acquire() as conn:
        _, [row] = await ledger_rows(conn, platform.scheduling_rt.schema, "prog", date(2024, 3, 25))
    assert row.next_milestone == "开工"  # the ledger's 下一节点 reads the plan: 施工许可 is done

    # A redelivery of the report (as after a crash before the checkpoint) appends nothing.
    actor = Actor(org_id="platform", role=Role.SYSTEM, user="test")
    await milestones_reported(platform.scheduling_rt, Cause(report, MILESTONE_COMPLETION, actor))
    await platform.synced()
    assert len(await _completions(platform, plan_id)) == 1

    # A correction that adds a milestone completes it too, with the report's id.
    r = await platform.intake.post(
        f"/v1/projects/{pid}/progress-reports/{r.json()['report_id']}/corrections",
        json={"reason": "补报开工节点", "milestones_done": [{"milestone_id": "start", "done_on": "2024-03-22"}]},
        headers=unit,
    )
    assert r.status_code == 201, r.text
    await platform.synced()
    assert [e.envelope.payload["milestone_id"] for e in await _completions(platform, plan_id)] == ["permit", "start"]
    assert (await _plan(platform, plan_id))["start"]["done_on"] == "2024-03-22"
