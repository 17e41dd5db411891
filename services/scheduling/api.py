"""scheduling's HTTP API: thin routes translating requests into use cases and results into responses."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response

from services.scheduling import handlers, queries
from services.scheduling.commands import (
    ApproveBaseline,
    ApproveBaselineBody,
    CompleteMilestone,
    CompleteMilestoneBody,
    DecideExemption,
    DecideExemptionBody,
    DraftPlan,
    PublishRules,
    Rebaseline,
    RebaselineBody,
    RecordAttendance,
    RecordAttendanceBody,
    RecordDecision,
    RecordDecisionBody,
    RecordMinutes,
    RecordMinutesBody,
    RequestExemption,
    RequestExemptionBody,
    ReviseDraft,
    ReviseDraftBody,
    RunMonitoring,
    ScheduleMeeting,
)
from services.scheduling.evaluation import evaluate, rule_set
from services.scheduling.monitoring import day_id, run_monitoring
from services.scheduling.policies import can_read_project, only_wide_readers, visibility
from services.scheduling.read_model import MEETINGS
from services.scheduling.report_data import ledger_rows, weekly_report
from services.scheduling.reports import render_ledger, render_weekly_report
from shared.auth import Principal
from shared.catalogue.scheduling import Colour
from shared.clock import Clock, today
from shared.envelope import Role
from shared.problems import Problem
from shared.project_directory import project_entry
from shared.web import ContextDep, MetaDep, MinSeqDep, PrincipalDep, RuntimeDep, require_roles, written

router = APIRouter(prefix="/v1")
HQ = require_roles(Role.HQ)
WRITERS = require_roles(Role.HQ, Role.UNIT)
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def clock_of(request: Request) -> Clock:
    clock: Clock = request.app.state.clock
    return clock


def today_of(clock: Annotated[Clock, Depends(clock_of)]) -> date:
    return today(clock)


Today = Annotated[date, Depends(today_of)]


# -- plans ------------------------------------------------------------------------------------------------------


@router.post(
    "/plans", status_code=201, tags=["plans"], summary="编制年度实施方案(含月度计划与节点)", dependencies=[WRITERS]
)
async def draft_plan(cmd: DraftPlan, rt: RuntimeDep, meta: MetaDep, response: Response) -> dict[str, Any]:
    return written(await handlers.draft_plan(rt, cmd, meta), response, 201)


@router.get("/plans", tags=["plans"], summary="实施方案列表", dependencies=[MinSeqDep])
async def list_plans(
    rt: RuntimeDep, principal: PrincipalDep, project_id: str | None = None, year: int | None = None
) -> list[dict[str, Any]]:
    unit, _ = visibility(principal)
    async with rt.pool.acquire() as conn:
        return await queries.list_plans(conn, rt.schema, project_id=project_id, year=year, unit_id=unit)


@router.get("/plans/{plan_id}", tags=["plans"], dependencies=[MinSeqDep])
async def get_plan(plan_id: str, rt: RuntimeDep, principal: PrincipalDep, response: Response) -> dict[str, Any]:
    async with rt.pool.acquire() as conn:
        plan = await queries.get_plan(conn, rt.schema, plan_id)
        if plan is None:
            raise Problem(404, "实施方案不存在")
        project = await project_entry(conn, rt.schema, plan["project_id"])
    if project is not None:
        can_read_project(principal, project)
    response.headers["ETag"] = f'"{plan["version"]}"'
    return plan


@router.put("/plans/{plan_id}", tags=["plans"], summary="修订方案草案(批准基准前)", dependencies=[WRITERS])
async def revise_plan(
    plan_id: str, body: ReviseDraftBody, rt: RuntimeDep, meta: MetaDep, response: Response
) -> dict[str, Any]:
    return written(await handlers.revise_plan(rt, ReviseDraft(plan_id=plan_id, **dict(body)), meta), response)


@router.post("/plans/{plan_id}/baseline", tags=["plans"], summary="批准为基准(指挥部办公室)", dependencies=[HQ])
async def approve_baseline(
    plan_id: str, body: ApproveBaselineBody, rt: RuntimeDep, meta: MetaDep, response: Response
) -> dict[str, Any]:
    cmd = ApproveBaseline(plan_id=plan_id, **dict(body))
    return written(await handlers.approve_baseline(rt, cmd, meta), response)


@router.post(
    "/plans/{plan_id}/milestones/{milestone_id}/rebaseline", tags=["plans"], summary="调整节点日期(重新基准)",
    dependencies=[WRITERS],
)  # fmt: skip
async def rebaseline(
    plan_id: str, milestone_id: str, body: RebaselineBody, rt: RuntimeDep, meta: MetaDep, response: Response
) -> dict[str, Any]:
    cmd = Rebaseline(plan_id=plan_id, milestone_id=milestone_id, **dict(body))
    return written(await handlers.rebaseline(rt, cmd, meta), response)


@router.post(
    "/plans/{plan_id}/milestones/{milestone_id}/complete", tags=["plans"], summary="节点完成", dependencies=[WRITERS]
)
async def complete_milestone(
    plan_id: str,
    milestone_id: str,
    body: CompleteMilestoneBody,
    rt: RuntimeDep,
    meta: MetaDep,
    response: Response,
    day: Today,
) -> dict[str, Any]:
    cmd = CompleteMilestone(plan_id=plan_id, milestone_id=milestone_id, **dict(body))
    return written(await handlers.complete_milestone(rt, cmd, meta, today=day), response)


@router.post(
    "/plans/{plan_id}/exemptions", status_code=201, tags=["exemptions"], summary="申请正当理由豁免",
    dependencies=[WRITERS],
)  # fmt: skip
async def request_exemption(
    plan_id: str, body: RequestExemptionBody, rt: RuntimeDep, meta: MetaDep, response: Response
) -> dict[str, Any]:
    outcome, exemption_id = await handlers.request_exemption(rt, RequestExemption(plan_id=plan_id, **dict(body)), meta)
    return written(outcome, response, 201, exemption_id=exemption_id)


@router.post(
    "/plans/{plan_id}/exemptions/{exemption_id}/approve", tags=["exemptions"], summary="批准豁免", dependencies=[HQ]
)
async def approve_exemption(
    plan_id: str, exemption_id: str, body: DecideExemptionBody, rt: RuntimeDep, meta: MetaDep, response: Response
) -> dict[str, Any]:
    cmd = DecideExemption(plan_id=plan_id, exemption_id=exemption_id, approve=True, **dict(body))
    return written(await handlers.decide_exemption(rt, cmd, meta), response)


@router.post(
    "/plans/{plan_id}/exemptions/{exemption_id}/reject", tags=["exemptions"], summary="驳回豁免", dependencies=[HQ]
)
async def reject_exemption(
    plan_id: str, exemption_id: str, body: DecideExemptionBody, rt: RuntimeDep, meta: MetaDep, response: Response
) -> dict[str, Any]:
    cmd = DecideExemption(plan_id=plan_id, exemption_id=exemption_id, approve=False, **dict(body))
    return written(await handlers.decide_exemption(rt, cmd, meta), response)


# -- rules and lights -------------------------------------------------------------------------------------------


@router.get("/rules", tags=["lights"], summary="预警规则版本", dependencies=[MinSeqDep])
async def list_rules(rt: RuntimeDep, principal: PrincipalDep) -> list[dict[str, Any]]:
    async with rt.pool.acquire() as conn:
        rules = await rule_set(conn, rt.schema)
    return [v.model_dump(mode="json") for v in rules.versions]


@router.post("/rules", status_code=201, tags=["lights"], summary="发布新的预警规则版本(带生效日期)", dependencies=[HQ])
async def publish_rules(cmd: PublishRules, rt: RuntimeDep, meta: MetaDep) -> dict[str, Any]:
    return (await handlers.publish_rules(rt, cmd, meta)).body()


async def _visible_project(rt: RuntimeDep, principal: Principal, project_id: str) -> None:
    async with rt.pool.acquire() as conn:
        project = await project_entry(conn, rt.schema, project_id)
    if project is None:
        raise Problem(404, "项目不存在")
    can_read_project(principal, project)


@router.get("/projects/{project_id}/light", tags=["lights"], summary="项目当前红黄绿灯及原因", dependencies=[MinSeqDep])
async def get_light(project_id: str, rt: RuntimeDep, principal: PrincipalDep) -> dict[str, Any]:
    await _visible_project(rt, principal, project_id)
    async with rt.pool.acquire() as conn:
        light = queries.light_public(await queries.current_light(conn, rt.schema, project_id))
    if light is None:
        raise Problem(404, "该项目尚未评价(每日监测后生成)")
    return light


@router.get("/projects/{project_id}/light/history", tags=["lights"], dependencies=[MinSeqDep])
async def get_light_history(project_id: str, rt: RuntimeDep, principal: PrincipalDep) -> list[dict[str, Any]]:
    await _visible_project(rt, principal, project_id)
    async with rt.pool.acquire() as conn:
        return await queries.light_history(conn, rt.schema, project_id)


@router.get(
    "/projects/{project_id}/light/what-if", tags=["lights"], summary="假设分析:按指定规则版本与日期计算(不记录)"
)
async def what_if(
    project_id: str,
    rt: RuntimeDep,
    principal: PrincipalDep,
    day: Today,
    rule_version: Annotated[int | None, Query(ge=1)] = None,
    as_of: date | None = None,
) -> dict[str, Any]:
    await _visible_project(rt, principal, project_id)
    async with rt.pool.acquire() as conn:
        [evaluation] = await evaluate(
            conn, rt.schema, as_of or day, project_ids=[project_id], rule_version=rule_version
        )
    light, rules = evaluation.light, evaluation.rules
    dims = {
        name: getattr(light, name).model_dump(mode="json")
        for name in ("milestones", "investment", "reporting", "issues")
    }
    return {
        "project_id": project_id, "as_of": (as_of or day).isoformat(), "colour": light.colour.value,
        "rule_version": rules.version, "spi": light.spi, "points_behind": light.points_behind,
        "exemptions_applied": light.exemptions_applied, "recorded": False, **dims,
    }  # fmt: skip


@router.get(
    "/lights", tags=["lights"], summary="红黄绿灯一览(按计划、颜色、类别、责任单位筛选)", dependencies=[MinSeqDep]
)
async def list_lights(
    rt: RuntimeDep,
    principal: PrincipalDep,
    programme_id: str | None = None,
    colour: Colour | None = None,
    category: str | None = None,
    unit_id: str | None = None,
) -> list[dict[str, Any]]:
    own_unit, own_leader = visibility(principal)
    async with rt.pool.acquire() as conn:
        return await queries.programme_lights(
            conn, rt.schema, programme_id=programme_id, colour=colour.value if colour else None, category=category,
            unit_id=own_unit or unit_id, sponsor_id=own_leader,
        )  # fmt: skip


# -- monitoring -------------------------------------------------------------------------------------------------


@router.post("/monitoring/runs", tags=["monitoring"], summary="立即执行日监测(默认今天)", dependencies=[HQ])
async def run_now(cmd: RunMonitoring, rt: RuntimeDep, ctx: ContextDep, day: Today) -> dict[str, Any]:
    result = await run_monitoring(rt, cmd.day or day, ctx)
    return {"day": result.day.isoformat(), "items_emitted": result.items_emitted,
            "lights_changed": result.lights_changed, "already_complete": result.already_complete,
            "seq": await rt.store.last_seq()}  # fmt: skip


@router.get("/monitoring/days/{day}", tags=["monitoring"], summary="某日监测结果", dependencies=[MinSeqDep])
async def monitoring_day(day: date, rt: RuntimeDep, principal: PrincipalDep) -> dict[str, Any]:
    own_unit, _ = visibility(principal)
    async with rt.pool.acquire() as conn:
        items = await queries.monitoring_items(conn, rt.schema, day, own_unit)
    return {"day": day.isoformat(), "id": day_id(day), "items": items}


# -- dispatch meetings ------------------------------------------------------------------------------------------


@router.post(
    "/meetings", status_code=201, tags=["meetings"], summary="安排调度会(议程由当前状态生成)", dependencies=[WRITERS]
)
async def schedule_meeting(
    cmd: ScheduleMeeting, rt: RuntimeDep, meta: MetaDep, response: Response, day: Today
) -> dict[str, Any]:
    return written(await handlers.schedule_meeting(rt, cmd, meta, today=day), response, 201)


@router.get("/meetings/{meeting_id}", tags=["meetings"], dependencies=[MinSeqDep])
async def get_meeting(meeting_id: str, rt: RuntimeDep, principal: PrincipalDep) -> dict[str, Any]:
    async with rt.pool.acquire() as conn:
        state, position = await MEETINGS.load_row(conn, rt.schema, meeting_id)
    if state is None:
        raise Problem(404, "调度会不存在")
    return {**state.model_dump(mode="json"), "version": position.version}


@router.get("/meetings/{meeting_id}/agenda", tags=["meetings"], dependencies=[MinSeqDep])
async def get_agenda(meeting_id: str, rt: RuntimeDep, principal: PrincipalDep) -> dict[str, Any]:
    meeting = await get_meeting(meeting_id, rt, principal)
    return {"meeting_id": meeting_id, "as_of": meeting["agenda_as_of"], "items": meeting["agenda"]}


@router.post("/meetings/{meeting_id}/attendance", tags=["meetings"], summary="记录参会情况", dependencies=[WRITERS])
async def record_attendance(
    meeting_id: str, body: RecordAttendanceBody, rt: RuntimeDep, meta: MetaDep, response: Response
) -> dict[str, Any]:
    cmd = RecordAttendance(meeting_id=meeting_id, **dict(body))
    return written(await handlers.record_attendance(rt, cmd, meta), response)


@router.post("/meetings/{meeting_id}/minutes", tags=["meetings"], summary="记录会议纪要", dependencies=[WRITERS])
async def record_minutes(
    meeting_id: str, body: RecordMinutesBody, rt: RuntimeDep, meta: MetaDep, response: Response
) -> dict[str, Any]:
    cmd = RecordMinutes(meeting_id=meeting_id, **dict(body))
    return written(await handlers.record_minutes(rt, cmd, meta), response)


@router.post(
    "/meetings/{meeting_id}/decisions", status_code=201, tags=["meetings"], summary="记录议定事项",
    dependencies=[WRITERS],
)  # fmt: skip
async def record_decision(
    meeting_id: str, body: RecordDecisionBody, rt: RuntimeDep, meta: MetaDep, response: Response
) -> dict[str, Any]:
    outcome, decision_id = await handlers.record_decision(rt, RecordDecision(meeting_id=meeting_id, **dict(body)), meta)
    return written(outcome, response, 201, decision_id=decision_id)


# -- reports ----------------------------------------------------------------------------------------------------


@router.get(
    "/programmes/{programme_id}/weekly-report", tags=["reports"], summary="周调度报告(DOCX)", dependencies=[MinSeqDep]
)
async def get_weekly_report(
    programme_id: str, rt: RuntimeDep, principal: PrincipalDep, day: Today, as_of: date | None = None
) -> Response:
    only_wide_readers(principal)
    async with rt.pool.acquire() as conn:
        report = await weekly_report(conn, rt.schema, programme_id, as_of or day)
    name = f"weekly-report-{programme_id}-{(as_of or day).isoformat()}.docx"
    return Response(render_weekly_report(report), media_type=DOCX, headers=_attachment(name))


@router.get("/programmes/{programme_id}/ledger", tags=["reports"], summary="项目台账(XLSX)", dependencies=[MinSeqDep])
async def get_ledger(
    programme_id: str, rt: RuntimeDep, principal: PrincipalDep, day: Today, as_of: date | None = None
) -> Response:
    only_wide_readers(principal)
    async with rt.pool.acquire() as conn:
        name, rows = await ledger_rows(conn, rt.schema, programme_id, as_of or day)
    filename = f"ledger-{programme_id}-{(as_of or day).isoformat()}.xlsx"
    return Response(render_ledger(name, as_of or day, rows), media_type=XLSX, headers=_attachment(filename))


def _attachment(filename: str) -> dict[str, str]:
    return {"Content-Disposition": f'attachment; filename="{filename}"'}
