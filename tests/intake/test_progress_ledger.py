"""The progress ledger through the API, on real NATS and PostgreSQL: periods that may not overlap, milestones named
by the plan's ids, corrections that keep the original, hq's review, and 累计完成投资 from accepted reports."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

import httpx

from shared.catalogue.scheduling import Milestone, PlanDrafted, PlanRevised
from shared.envelope import Actor, Role
from shared.eventstore import Context, Position
from tests.intake.conftest import Intake
from tests.platform import auth, project_body

UNIT = "unit-a"
PLANNER = Context(actor=Actor(org_id="unit-a", role=Role.UNIT), correlation_id="plan")


def week(start: str, end: str, amount: str, **extra: Any) -> dict[str, Any]:
    return {"period_start": start, "period_end": end, "investment_this_period": amount, "image_progress_pct": "5",
            **extra}  # fmt: skip


async def _project(intake: Intake) -> str:
    r = await intake.client.post("/v1/projects", json=project_body(), headers=auth(intake.tokens["hq"]))
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


async def _ledger(intake: Intake, pid: str, seq: int) -> dict[str, Any]:
    r = await intake.client.get(
        f"/v1/projects/{pid}/progress-reports", params={"min_seq": seq}, headers=auth(intake.tokens["hq"])
    )
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def _created(r: httpx.Response) -> dict[str, Any]:
    assert r.status_code == 201, r.text
    body: dict[str, Any] = r.json()
    return body


async def test_periods_of_a_project_may_not_overlap_and_the_409_names_the_report(intake: Intake) -> None:
    pid, unit = await _project(intake), auth(intake.tokens["unit-a"])
    path = f"/v1/projects/{pid}/progress-reports"
    first = _created(await intake.client.post(path, json=week("2024-03-04", "2024-03-10", "10"), headers=unit))
    _created(await intake.client.post(path, json=week("2024-03-11", "2024-03-17", "10"), headers=unit))  # adjacent
    r = await intake.client.post(path, json=week("2024-03-09", "2024-03-09", "1"), headers=unit)
    assert r.status_code == 409 and r.headers["content-type"].startswith("application/problem+json"), r.text
    assert r.json()["overlaps_report_id"] == first["report_id"]
    assert r.json()["errors"] == [{"field": "period_start", "reason": f"与填报 {first['report_id']} 的周期重叠"}]
    events = await intake.runtime.store.read_aggregate("project", pid)
    assert [e.envelope.type for e in events].count("ProgressReported") == 2  # the refused one appended nothing


async def test_a_milestone_the_plan_does_not_have_is_422_naming_it_and_a_planned_one_is_recorded_by_id(
    intake: Intake,
) -> None:
    pid, unit = await _project(intake), auth(intake.tokens["unit-a"])
    # scheduling's plan, as scheduling appends it: intake's projection learns its milestone ids from the log.
    plan = PlanDrafted(
        project_id=pid, year=2024, annual_target_investment=Decimal(1200), monthly_investment=[Decimal(100)] * 12,
        milestones=[Milestone(milestone_id="permit", name="施工许可", planned_date=date(2024, 3, 31), unit_id=UNIT)],
    )  # fmt: skip
    stored = await intake.runtime.store.append("plan", f"{pid}-y2024", plan, expected=Position(), context=PLANNER)
    drafted_at = Position().after(stored)
    path = f"/v1/projects/{pid}/progress-reports"
    typo = [{"milestone_id": "permit", "done_on": "2024-03-06"}, {"milestone_id": "permitt", "done_on": "2024-03-06"}]
    r = await intake.client.post(path, json=week("2024-03-04", "2024-03-10", "5", milestones_done=typo), headers=unit)
    assert r.status_code == 422, r.text
    assert r.json()["errors"] == [{"field": "milestones_done.1.milestone_id", "reason": "本项目的实施方案没有该节点"}]
    # A revised draft adds a milestone: intake knows it as soon as its projection has the revision.
    start = Milestone(milestone_id="start", name="开工", planned_date=date(2024, 4, 30), unit_id=UNIT)
    revised = PlanRevised(
        **{**plan.model_dump(exclude={"project_id", "year"}), "milestones": [*plan.milestones, start]}
    )
    await intake.runtime.store.append("plan", f"{pid}-y2024", revised, expected=drafted_at, context=PLANNER)
    done = [{"milestone_id": "permit", "done_on": "2024-03-06"}, {"milestone_id": "start", "done_on": "2024-03-08"}]
    body = _created(
        await intake.client.post(path, json=week("2024-03-04", "2024-03-10", "5", milestones_done=done), headers=unit)
    )
    [report] = (await _ledger(intake, pid, body["seq"]))["items"]
    assert report["milestones_done"] == [
        {"milestone_id": "permit", "plan_id": f"{pid}-y2024", "name": "施工许可", "done_on": "2024-03-06"},
        {"milestone_id": "start", "plan_id": f"{pid}-y2024", "name": "开工", "done_on": "2024-03-08"},
    ]


async def test_return_correct_accept_keeps_the_original_and_the_cumulative_follows_accepted_figures(
    intake: Intake,
) -> None:
    pid = await _project(intake)
    unit, hq, other = auth(intake.tokens["unit-a"]), auth(intake.tokens["hq"]), auth(intake.tokens["unit-b"])
    path = f"/v1/projects/{pid}/progress-reports"
    r1 = _created(await intake.client.post(path, json=week("2024-03-04", "2024-03-10", "100"), headers=unit))
    r2 = _created(await intake.client.post(path, json=week("2024-03-11", "2024-03-17", "50"), headers=unit))
    one, two = f"{path}/{r1['report_id']}", f"{path}/{r2['report_id']}"
    ledger = await _ledger(intake, pid, r2["seq"])
    assert (ledger["cumulative_investment"], ledger["pending_reports"], ledger["pending_investment"]) == ("0", 2, "150")

    assert (await intake.client.post(f"{one}/review", json={"decision": "accept"}, headers=unit)).status_code == 403
    r = await intake.client.post(f"{one}/review", json={"decision": "return"}, headers=hq)
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "reason"
    r = await intake.client.post(f"{one}/review", json={"decision": "return", "reason": "与凭证不符"}, headers=hq)
    assert r.status_code == 200, r.text
    r = await intake.client.post(f"{one}/review", json={"decision": "accept"}, headers=hq)
    assert r.status_code == 409 and r.json()["errors"][0]["field"] == "report_id"  # returned: corrected first
    correction = {"reason": "按凭证更正", "investment_this_period": "80"}
    assert (await intake.client.post(f"{one}/corrections", json=correction, headers=other)).status_code == 403
    r = await intake.client.post(f"{path}/r-none/corrections", json=correction, headers=unit)
    assert r.status_code == 404 and r.json()["errors"][0]["field"] == "report_id"
    _created(await intake.client.post(f"{one}/corrections", json=correction, headers=unit))
    for target in (one, two):
        r = await intake.client.post(f"{target}/review", json={"decision": "accept", "reason": "审核通过"}, headers=hq)
        assert r.status_code == 200, r.text
    ledger = await _ledger(intake, pid, r.json()["seq"])
    assert (ledger["cumulative_investment"], ledger["pending_reports"]) == ("130", 0)
    first = ledger["items"][0]
    assert (first["investment_this_period"], first["status"], first["corrections"]) == ("80", "accepted", 1)
    history = [(h["type"], h["payload"].get("investment_this_period")) for h in first["history"]]
    assert history == [("ProgressReported", "100"), ("ProgressReportReturned", None),
                       ("ProgressReportCorrected", "80"), ("ProgressReportAccepted", None)]  # fmt: skip
    assert first["history"][2]["payload"]["investment_before"] == "100"
    # An accepted report corrected: its accepted figure counts until hq accepts the correction.
    r = await intake.client.post(f"{two}/corrections", json={"reason": "漏报", "investment_this_period": "70"},
                                 headers=hq)  # fmt: skip
    ledger = await _ledger(intake, pid, _created(r)["seq"])
    assert (ledger["cumulative_investment"], ledger["pending_investment"]) == ("130", "70")
    r = await intake.client.post(f"{two}/review", json={"decision": "accept"}, headers=hq)
    project = (await intake.client.get(f"/v1/projects/{pid}", params={"min_seq": r.json()["seq"]}, headers=hq)).json()
    assert project["cumulative_investment"] == "150" and project["reported_investment"] == "150"
