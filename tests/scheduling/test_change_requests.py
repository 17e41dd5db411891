"""Change requests that move a milestone, and a completed project watched until 投产, against real intake and
scheduling services on real NATS and PostgreSQL: a pending request changes nothing a light is computed from; hq's
approval re-baselines the milestone through scheduling's `change_requests` reaction, exactly once."""

from __future__ import annotations

from datetime import date
from typing import Any

from services.scheduling.monitoring import day_id
from services.scheduling.reactions import CHANGE_REQUESTS
from shared.eventstore import StoredEvent
from shared.reactions import ReactionRunner, derived_event_id
from shared.runtime import Runtime
from tests.platform import auth, wait_until
from tests.scheduling.conftest import Platform
from tests.scheduling.test_plans import MILESTONES, plan_body

DAY = date(2024, 5, 15)  # 开工 (start) was due on 2024-04-30
START = "节点「开工」"


def _reaction(rt: Runtime) -> ReactionRunner:
    return next(r for r in rt.reactions if r.group == CHANGE_REQUESTS)


async def _baselined_plan(platform: Platform, **project: Any) -> tuple[str, str]:
    unit, hq = auth(platform.tokens[project.get("unit_id", "unit-a")]), auth(platform.tokens["hq"])
    pid = await platform.project(**project)
    r = await platform.scheduling.post("/v1/plans", json=plan_body(pid), headers=unit)
    assert r.status_code == 201, r.text
    plan_id: str = r.json()["id"]
    r = await platform.scheduling.post(f"/v1/plans/{plan_id}/baseline", json={"note": "同意"}, headers=hq)
    assert r.status_code == 200, r.text
    await platform.synced()
    return pid, plan_id


async def _get(platform: Platform, path: str, **params: Any) -> Any:
    r = await platform.scheduling.get(path, params=params, headers=auth(platform.tokens["hq"]))
    assert r.status_code == 200, r.text
    return r.json()


async def _rebaselines(platform: Platform, plan_id: str) -> list[StoredEvent]:
    events = await platform.scheduling_rt.store.read_aggregate("plan", plan_id)
    return [e for e in events if e.envelope.type == "MilestoneRebaselined"]


def _start(plan: dict[str, Any]) -> dict[str, Any]:
    return next(m for m in plan["milestones"] if m["milestone_id"] == "start")


async def test_only_hqs_approval_moves_a_milestone_and_a_pending_request_changes_no_light(platform: Platform) -> None:
    platform.clock.set_day(DAY)
    pid, plan_id = await _baselined_plan(platform)
    unit, hq = auth(platform.tokens["unit-a"]), auth(platform.tokens["hq"])
    before = await _get(platform, f"/v1/projects/{pid}/light/what-if")
    assert START in " ".join(before["milestones"]["reasons"])  # overdue against the baseline in force
    # The direct path is closed to the unit, and says where to go.
    r = await platform.scheduling.post(
        f"/v1/plans/{plan_id}/milestones/start/rebaseline", json={"to_date": "2024-06-15", "reason": "用地手续延迟"},
        headers=unit,
    )  # fmt: skip
    assert r.status_code == 403 and f"/v1/projects/{pid}/change-requests" in r.json()["detail"], r.text

    request = {"kind": "rebaseline_milestone", "plan_id": plan_id, "milestone_id": "start", "to_date": "2024-06-15",
               "reason": "用地手续延迟"}  # fmt: skip
    r = await platform.intake.post(f"/v1/projects/{pid}/change-requests", json=request, headers=unit)
    assert r.status_code == 201, r.text
    cr_id = r.json()["id"]
    await platform.synced()
    # Pending: the plan and every input of the light are as they were.
    plan = await _get(platform, f"/v1/plans/{plan_id}")
    assert _start(plan)["planned_date"] == "2024-04-30" and _start(plan)["rebaselines"] == []
    assert await _get(platform, f"/v1/projects/{pid}/light/what-if") == before

    r = await platform.intake.post(
        f"/v1/change-requests/{cr_id}/decision", json={"decision": "approve", "reason": "同意顺延"}, headers=hq
    )
    assert r.status_code == 200, r.text
    approval_seq = r.json()["seq"]

    async def moved() -> bool:
        return bool(await _rebaselines(platform, plan_id))

    await wait_until(moved, 15, "the milestone re-baselined by the reaction")
    [event] = await _rebaselines(platform, plan_id)
    approval = (await platform.intake_rt.store.read_aggregate("change_request", cr_id))[-1]
    assert approval.seq == approval_seq and approval.envelope.type == "ChangeRequestApproved"
    assert event.envelope.id == derived_event_id(approval.envelope.id, CHANGE_REQUESTS)
    assert event.envelope.causation_id == str(approval.envelope.id)
    assert event.envelope.payload["change_request_id"] == cr_id
    plan = await _get(platform, f"/v1/plans/{plan_id}", min_seq=event.seq)
    start = _start(plan)
    assert (start["planned_date"], start["baseline_date"]) == ("2024-06-15", "2024-04-30")
    assert start["rebaselines"][0]["change_request_id"] == cr_id and "同意顺延" in start["rebaselines"][0]["reason"]
    after = await _get(platform, f"/v1/projects/{pid}/light/what-if")
    assert START not in " ".join(after["milestones"]["reasons"])  # now judged against the approved date
    # Exactly one effect, also once every reaction has seen everything.
    await platform.synced()
    assert len(await _rebaselines(platform, plan_id)) == 1


async def test_a_rejected_request_moves_nothing_and_one_naming_another_projects_plan_is_refused(
    platform: Platform,
) -> None:
    platform.clock.set_day(DAY)
    pid, plan_id = await _baselined_plan(platform)
    _, other_plan = await _baselined_plan(platform, unit_id="unit-b")
    unit, hq = auth(platform.tokens["unit-a"]), auth(platform.tokens["hq"])
    request = {"kind": "rebaseline_milestone", "plan_id": plan_id, "milestone_id": "start",
               "to_date": "2024-06-15", "reason": "用地手续延迟"}  # fmt: skip
    r = await platform.intake.post(f"/v1/projects/{pid}/change-requests", json=request, headers=unit)
    assert r.status_code == 201, r.text
    r = await platform.intake.post(
        f"/v1/change-requests/{r.json()['id']}/decision", json={"decision": "reject", "reason": "审批意见"},
        headers=hq,
    )  # fmt: skip
    assert r.status_code == 200, r.text
    # Another project's plan, or a milestone the plan does not have: refused at filing, naming the field.
    for target, milestone in ((other_plan, "start"), (plan_id, "no-such-milestone")):
        wrong = {**request, "plan_id": target, "milestone_id": milestone}
        refused = await platform.intake.post(f"/v1/projects/{pid}/change-requests", json=wrong, headers=unit)
        assert refused.status_code == 422, refused.text
        assert [e["field"] for e in refused.json()["errors"]] == ["milestone_id"], refused.text
    # The reaction has handled the rejection, and neither plan moved.
    assert await _reaction(platform.scheduling_rt).wait_for(r.json()["seq"], 15)
    await platform.synced()
    assert await _rebaselines(platform, plan_id) == [] and await _rebaselines(platform, other_plan) == []


async def test_a_completed_project_keeps_a_light_until_it_is_in_operation(platform: Platform) -> None:
    hq = auth(platform.tokens["hq"])
    pid = await platform.project()
    milestones = [*MILESTONES[:2], {"milestone_id": "trial", "name": "试生产", "planned_date": "2024-05-31",
                                    "unit_id": "unit-a"}]  # fmt: skip
    r = await platform.scheduling.post("/v1/plans", json=plan_body(pid, milestones=milestones), headers=hq)
    assert r.status_code == 201, r.text
    for phase in ("under_construction", "completed"):
        r = await platform.intake.post(f"/v1/projects/{pid}/phase", json={"phase": phase, "reason": "按期"}, headers=hq)
        assert r.status_code == 200, r.text
    await platform.synced()
    run = await platform.monitor(date(2024, 6, 30))
    assert run.items_emitted > 0
    light = await _get(platform, f"/v1/projects/{pid}/light", min_seq=await platform.scheduling_rt.store.last_seq())
    assert light["colour"] != "green", light
    reasons = " ".join(light["milestones"]["reasons"])
    assert "跟踪至投产" in reasons and "试生产" in reasons
    flags = await platform.scheduling_rt.store.read_aggregate("monitoring", day_id(date(2024, 6, 30)))
    assert any(e.envelope.payload.get("milestone_id") == "trial" for e in flags)
    r = await platform.intake.post(f"/v1/projects/{pid}/phase", json={"phase": "in_operation", "reason": "投产"},
                                   headers=hq)  # fmt: skip
    assert r.status_code == 200, r.text
    await platform.synced()
    await platform.monitor(date(2024, 7, 1))
    light = await _get(platform, f"/v1/projects/{pid}/light", min_seq=await platform.scheduling_rt.store.last_seq())
    assert light["colour"] == "green" and "已投产" in " ".join(light["milestones"]["reasons"])
