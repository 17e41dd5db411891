"""Plans, baselines and re-baselines, milestone completion and exemptions through the scheduling API."""

from __future__ import annotations

from typing import Any

from tests.platform import auth
from tests.scheduling.conftest import Platform

MILESTONES = [
    {"milestone_id": "permit", "name": "施工许可", "planned_date": "2024-03-31", "unit_id": "unit-a"},
    {"milestone_id": "start", "name": "开工", "planned_date": "2024-04-30", "unit_id": "unit-a"},
    {"milestone_id": "topping", "name": "主体完工", "planned_date": "2024-10-31", "unit_id": "unit-a"},
]


def plan_body(project_id: str, **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "project_id": project_id, "year": 2024, "annual_target_investment": "1200", "yearly_targets": "主体完工",
        "monthly_investment": ["100"] * 12, "milestones": MILESTONES,
    }  # fmt: skip
    body.update(overrides)
    return body


async def test_baseline_is_frozen_and_rebaseline_keeps_both_dates(platform: Platform) -> None:
    pid = await platform.project()
    unit, hq = auth(platform.tokens["unit-a"]), auth(platform.tokens["hq"])
    r = await platform.scheduling.post("/v1/plans", json=plan_body(pid), headers=unit)
    assert r.status_code == 201, r.text
    plan_id = r.json()["id"]
    assert plan_id == f"{pid}-y2024"
    # The draft may be revised freely; the unit may not approve its own baseline.
    revised = plan_body(pid, annual_target_investment="1300")
    del revised["project_id"], revised["year"]
    r = await platform.scheduling.put(f"/v1/plans/{plan_id}", json=revised, headers={**unit, "If-Match": "1"})
    assert r.status_code == 200, r.text
    r = await platform.scheduling.post(f"/v1/plans/{plan_id}/baseline", json={}, headers=unit)
    assert r.status_code == 403
    r = await platform.scheduling.post(f"/v1/plans/{plan_id}/baseline", json={"note": "同意"}, headers=hq)
    assert r.status_code == 200, r.text
    # After the baseline, a revision is refused; a date change is an explicit re-baseline with a reason.
    r = await platform.scheduling.put(f"/v1/plans/{plan_id}", json=revised, headers=unit)
    assert r.status_code == 409
    # A unit's date change is a change request hq decides (tests/scheduling/test_change_requests.py); hq may do it.
    r = await platform.scheduling.post(
        f"/v1/plans/{plan_id}/milestones/start/rebaseline", json={"to_date": "2024-06-15", "reason": "用地手续延迟"},
        headers=unit,
    )  # fmt: skip
    assert r.status_code == 403 and "/change-requests" in r.json()["detail"]
    r = await platform.scheduling.post(
        f"/v1/plans/{plan_id}/milestones/start/rebaseline", json={"to_date": "2024-06-15", "reason": "用地手续延迟"},
        headers=hq,
    )  # fmt: skip
    assert r.status_code == 200, r.text
    r = await platform.scheduling.post(
        f"/v1/plans/{plan_id}/milestones/start/rebaseline", json={"to_date": "2024-06-20"}, headers=hq
    )
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "reason"
    r = await platform.scheduling.get(f"/v1/plans/{plan_id}", params={"min_seq": await _last(platform)}, headers=hq)
    start = next(m for m in r.json()["milestones"] if m["milestone_id"] == "start")
    assert start["baseline_date"] == "2024-04-30" and start["planned_date"] == "2024-06-15"
    assert start["rebaselines"][0]["reason"] == "用地手续延迟" and start["rebaselines"][0]["from_date"] == "2024-04-30"
    assert r.json()["annual_target_investment"] == "1300" and r.json()["baselined"] is True


async def test_units_keep_only_their_own_plans(platform: Platform) -> None:
    pid = await platform.project()
    r = await platform.scheduling.post("/v1/plans", json=plan_body(pid), headers=auth(platform.tokens["unit-b"]))
    assert r.status_code == 403
    r = await platform.scheduling.post("/v1/plans", json=plan_body(pid), headers=auth(platform.tokens["auditor"]))
    assert r.status_code == 403
    r = await platform.scheduling.post(
        "/v1/plans", json=plan_body(pid, monthly_investment=["200"] * 12), headers=auth(platform.tokens["unit-a"])
    )
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "monthly_investment"
    r = await platform.scheduling.post("/v1/plans", json=plan_body("nope"), headers=auth(platform.tokens["hq"]))
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "project_id"


async def test_milestone_exemption_workflow_keeps_the_delay_out_of_the_light(platform: Platform) -> None:
    pid = await platform.project(planned_start="2024-03-01")
    unit, hq = auth(platform.tokens["unit-a"]), auth(platform.tokens["hq"])
    r = await platform.scheduling.post("/v1/plans", json=plan_body(pid), headers=unit)
    plan_id = r.json()["id"]
    await platform.intake.post(
        f"/v1/projects/{pid}/phase", json={"phase": "under_construction", "reason": "开工"}, headers=hq
    )
    await platform.synced()
    what_if = f"/v1/projects/{pid}/light/what-if"
    r = await platform.scheduling.get(what_if, params={"as_of": "2024-05-20"}, headers=hq)
    assert r.status_code == 200, r.text
    assert r.json()["milestones"]["colour"] == "red"  # 施工许可 overdue 50 days
    r = await platform.scheduling.post(
        f"/v1/plans/{plan_id}/exemptions",
        json={"scope": "milestone", "milestone_id": "permit", "reason": "暴雨洪涝不可抗力",
              "evidence": ["气象灾害证明"]},
        headers=unit,
    )  # fmt: skip
    assert r.status_code == 201, r.text
    exemption_id = r.json()["exemption_id"]
    r = await platform.scheduling.post(f"/v1/plans/{plan_id}/exemptions/{exemption_id}/approve", json={}, headers=unit)
    assert r.status_code == 403
    await platform.synced()
    r = await platform.scheduling.get(what_if, params={"as_of": "2024-05-20"}, headers=hq)
    assert r.json()["milestones"]["colour"] == "red"  # requested is not approved
    r = await platform.scheduling.post(
        f"/v1/plans/{plan_id}/exemptions/{exemption_id}/approve", json={"note": "情况属实"}, headers=hq
    )
    assert r.status_code == 200, r.text
    await platform.synced()
    r = await platform.scheduling.get(what_if, params={"as_of": "2024-05-20"}, headers=hq)
    body = r.json()
    permit_reasons = [x for x in body["milestones"]["reasons"] if "施工许可" in x]
    assert body["exemptions_applied"] == [exemption_id] and "豁免" in permit_reasons[0]
    assert body["milestones"]["colour"] == "yellow"  # 开工 (2024-04-30) is still 20 days overdue
    r = await platform.scheduling.post(f"/v1/plans/{plan_id}/exemptions/{exemption_id}/reject", json={}, headers=hq)
    assert r.status_code == 409


async def _last(platform: Platform) -> int:
    return await platform.scheduling_rt.store.last_seq()


async def test_hq_has_a_queue_of_exemptions_waiting_for_its_decision(platform: Platform) -> None:
    pid = await platform.project()
    unit, hq = auth(platform.tokens["unit-a"]), auth(platform.tokens["hq"])
    plan_id = (await platform.scheduling.post("/v1/plans", json=plan_body(pid), headers=unit)).json()["id"]
    ids = []
    for milestone in ("permit", "start"):
        r = await platform.scheduling.post(
            f"/v1/plans/{plan_id}/exemptions",
            json={"scope": "milestone", "milestone_id": milestone, "reason": "汛期停工", "evidence": ["证明"]},
            headers=unit,
        )
        assert r.status_code == 201, r.text
        ids.append(r.json()["exemption_id"])
    r = await platform.scheduling.post(f"/v1/plans/{plan_id}/exemptions/{ids[0]}/approve", json={}, headers=hq)
    assert r.status_code == 200, r.text
    seq = {"min_seq": r.json()["seq"]}

    queue = (await platform.scheduling.get("/v1/exemptions", params=seq, headers=hq)).json()
    assert queue["total"] == 1 and [e["exemption_id"] for e in queue["items"]] == [ids[1]]
    waiting = queue["items"][0]
    assert waiting["plan_id"] == plan_id and waiting["project_id"] == pid and waiting["status"] == "requested"
    assert waiting["unit_id"] == "unit-a" and waiting["reason"] == "汛期停工" and waiting["plan_version"] == 4
    approved = (await platform.scheduling.get("/v1/exemptions", params={"status": "approved"}, headers=hq)).json()
    assert [e["exemption_id"] for e in approved["items"]] == [ids[0]]
    past_the_end = await platform.scheduling.get("/v1/exemptions", params={"offset": 5}, headers=hq)
    assert past_the_end.json() == {"items": [], "total": 1, "limit": 100, "offset": 5}
    assert (await platform.scheduling.get("/v1/exemptions", headers=unit)).status_code == 403
    r = await platform.scheduling.get("/v1/exemptions", params={"status": "pending"}, headers=hq)
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "query.status"
