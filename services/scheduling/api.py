"""scheduling's HTTP API: thin routes translating requests into use cases and results into responses."""

from __future__ import annotations

import json
from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response

from services.scheduling import handlers, queries
from services.scheduling.commands import (
    ApproveBaseline,
    CompleteMilestone,
    DecideExemption,
    DraftPlan,
    PublishRules,
    Rebaseline,
    RecordAttendance,
    RecordDecision,
    RecordMinutes,
    RequestExemption,
    ReviseDraft,
    RunMonitoring,
    ScheduleMeeting,
)
from services.scheduling.evaluation import evaluate, rule_set
from services.scheduling.monitoring import day_id, run_monitoring
from services.scheduling.policies import can_read_project, visibility
from services.scheduling.read_model import MEETINGS
from services.scheduling.report_data import ledger_rows, weekly_report
from services.scheduling.reports import render_ledger, render_weekly_report
from shared.auth import Principal
from shared.catalogue.scheduling import Colour
from shared.clock import Clock, today
from shared.envelope import Role
from shared.problems import Problem
from shared.web import (
    ContextDep,
    IdempotencyKeyDep,
    IfMatchDep,
    MinSeqDep,
    PrincipalDep,
    RuntimeDep,
    require_roles,
    written,
)

router = APIRouter(prefix="/v1")
HqPrincipal = Annotated[Principal, require_roles(Role.HQ)]
WriterPrincipal = Annotated[Principal, require_roles(Role.HQ, Role.UNIT)]
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def clock_of(request: Request) -> Clock:
    clock: Clock = request.app.state.clock
    return clock


def today_of(clock: Annotated[Clock, Depends(clock_of)]) -> date:
    return today(clock)


Today = Annotated[date, Depends(today_of)]


# -- plans ------------------------------------------------------------------------------------------------------


@router.post("/plans", status_code=201, tags=["plans"], summary="编制年度实施方案(含月度计划与节点)")
async def draft_plan(
    cmd: DraftPlan,
    rt: RuntimeDep,
    ctx: ContextDep,
    key: IdempotencyKeyDep,
    response: Response,
    principal: WriterPrincipal,
) -> dict[str, Any]:
    return written(await handlers.draft_plan(rt, cmd, principal, ctx, key), response, 201)


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
        project = await queries.project_row(conn, rt.schema, plan["project_id"])
    if project is not None:
        can_read_project(principal, project["unit_id"], project["sponsor_leader_id"])
    response.headers["ETag"] = f'"{plan["version"]}"'
    return plan


@router.put("/plans/{plan_id}", tags=["plans"], summary="修订方案草案(批准基准前)")
async def revise_plan(
    plan_id: str,
    cmd: ReviseDraft,
    rt: RuntimeDep,
    ctx: ContextDep,
    if_match: IfMatchDep,
    key: IdempotencyKeyDep,
    response: Response,
    principal: WriterPrincipal,
) -> dict[str, Any]:
    return written(await handlers.revise_plan(rt, plan_id, cmd, principal, ctx, if_match=if_match, key=key), response)


@router.post("/plans/{plan_id}/baseline", tags=["plans"], summary="批准为基准(指挥部办公室)")
async def approve_baseline(
    plan_id: str,
    cmd: ApproveBaseline,
    rt: RuntimeDep,
    ctx: ContextDep,
    if_match: IfMatchDep,
    key: IdempotencyKeyDep,
    response: Response,
    principal: HqPrincipal,
) -> dict[str, Any]:
    outcome = await handlers.approve_baseline(rt, plan_id, cmd, principal, ctx, if_match=if_match, key=key)
    return written(outcome, response)


@router.post("/plans/{plan_id}/milestones/{milestone_id}/rebaseline", tags=["plans"], summary="调整节点日期(重新基准)")
async def rebaseline(
    plan_id: str,
    milestone_id: str,
    cmd: Rebaseline,
    rt: RuntimeDep,
    ctx: ContextDep,
    if_match: IfMatchDep,
    key: IdempotencyKeyDep,
    response: Response,
    principal: WriterPrincipal,
) -> dict[str, Any]:
    outcome = await handlers.rebaseline(rt, plan_id, milestone_id, cmd, principal, ctx, if_match=if_match, key=key)
    return written(outcome, response)


@router.post("/plans/{plan_id}/milestones/{milestone_id}/complete", tags=["plans"], summary="节点完成")
async def complete_milestone(
    plan_id: str,
    milestone_id: str,
    cmd: CompleteMilestone,
    rt: RuntimeDep,
    ctx: ContextDep,
    if_match: IfMatchDep,
    key: IdempotencyKeyDep,
    response: Response,
    principal: WriterPrincipal,
    day: Today,
) -> dict[str, Any]:
    outcome = await handlers.complete_milestone(
        rt, plan_id, milestone_id, cmd, principal, ctx, today=day, if_match=if_match, key=key
    )
    return written(outcome, response)


@router.post("/plans/{plan_id}/exemptions", status_code=201, tags=["exemptions"], summary="申请正当理由豁免")
async def request_exemption(
    plan_id: str,
    cmd: RequestExemption,
    rt: RuntimeDep,
    ctx: ContextDep,
    key: IdempotencyKeyDep,
    response: Response,
    principal: WriterPrincipal,
) -> dict[str, Any]:
    outcome, exemption_id = await handlers.request_exemption(rt, plan_id, cmd, principal, ctx, key=key)
    return written(outcome, response, 201, exemption_id=exemption_id)


@router.post("/plans/{plan_id}/exemptions/{exemption_id}/approve", tags=["exemptions"], summary="批准豁免")
async def approve_exemption(
    plan_id: str,
    exemption_id: str,
    cmd: DecideExemption,
    rt: RuntimeDep,
    ctx: ContextDep,
    key: IdempotencyKeyDep,
    response: Response,
    principal: HqPrincipal,
) -> dict[str, Any]:
    outcome = await handlers.decide_exemption(rt, plan_id, exemption_id, True, cmd, principal, ctx, key=key)
    return written(outcome, response)


@router.post("/plans/{plan_id}/exemptions/{exemption_id}/reject", tags=["exemptions"], summary="驳回豁免")
async def reject_exemption(
    plan_id: str,
    exemption_id: str,
    cmd: DecideExemption,
    rt: RuntimeDep,
    ctx: ContextDep,
    key: IdempotencyKeyDep,
    response: Response,
    principal: HqPrincipal,
) -> dict[str, Any]:
    outcome = await handlers.decide_exemption(rt, plan_id, exemption_id, False, cmd, principal, ctx, key=key)
    return written(outcome, response)


# -- rules and lights -------------------------------------------------------------------------------------------


@router.get("/rules", tags=["lights"], summary="预警规则版本", dependencies=[MinSeqDep])
async def list_rules(rt: RuntimeDep, principal: PrincipalDep) -> list[dict[str, Any]]:
    async with rt.pool.acquire() as conn:
        rules = await rule_set(conn, rt.schema)
    return [v.model_dump(mode="json") for v in rules.versions]


@router.post("/rules", status_code=201, tags=["lights"], summary="发布新的预警规则版本(带生效日期)")
async def publish_rules(
    cmd: PublishRules, rt: RuntimeDep, ctx: ContextDep, key: IdempotencyKeyDep, principal: HqPrincipal
) -> dict[str, Any]:
    return (await handlers.publish_rules(rt, cmd, principal, ctx, key)).body()


async def _visible_project(rt: RuntimeDep, principal: Principal, project_id: str) -> None:
    async with rt.pool.acquire() as conn:
        project = await queries.project_row(conn, rt.schema, project_id)
    if project is None:
        raise Problem(404, "项目不存在")
    can_read_project(principal, project["unit_id"], project["sponsor_leader_id"])


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


@router.post("/monitoring/runs", tags=["monitoring"], summary="立即执行日监测(默认今天)")
async def run_now(
    cmd: RunMonitoring, rt: RuntimeDep, ctx: ContextDep, principal: HqPrincipal, day: Today
) -> dict[str, Any]:
    result = await run_monitoring(rt, cmd.day or day, ctx)
    return {"day": result.day.isoformat(), "items_emitted": result.items_emitted,
            "lights_changed": result.lights_changed, "already_complete": result.already_complete,
            "seq": await rt.store.last_seq()}  # fmt: skip


@router.get("/monitoring/days/{day}", tags=["monitoring"], summary="某日监测结果", dependencies=[MinSeqDep])
async def monitoring_day(day: date, rt: RuntimeDep, principal: PrincipalDep) -> dict[str, Any]:
    own_unit, _ = visibility(principal)
    async with rt.pool.acquire() as conn:
        rows = await conn.fetch(
            f"SELECT i.kind, i.payload FROM {rt.schema}.monitoring_items i"
            f" LEFT JOIN {rt.schema}.projects j ON j.id = i.project_id"
            " WHERE i.day = $1 AND ($2::text IS NULL OR j.unit_id = $2) ORDER BY i.seq",
            day, own_unit,
        )  # fmt: skip

    return {
        "day": day.isoformat(),
        "id": day_id(day),
        "items": [{"kind": r["kind"], **json.loads(r["payload"])} for r in rows],
    }


# -- dispatch meetings ------------------------------------------------------------------------------------------


@router.post("/meetings", status_code=201, tags=["meetings"], summary="安排调度会(议程由当前状态生成)")
async def schedule_meeting(
    cmd: ScheduleMeeting,
    rt: RuntimeDep,
    ctx: ContextDep,
    key: IdempotencyKeyDep,
    response: Response,
    principal: WriterPrincipal,
    day: Today,
) -> dict[str, Any]:
    outcome = await handlers.schedule_meeting(rt, cmd, principal, ctx, today=day, key=key)
    return written(outcome, response, 201)


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


@router.post("/meetings/{meeting_id}/attendance", tags=["meetings"], summary="记录参会情况")
async def record_attendance(
    meeting_id: str,
    cmd: RecordAttendance,
    rt: RuntimeDep,
    ctx: ContextDep,
    key: IdempotencyKeyDep,
    response: Response,
    principal: WriterPrincipal,
) -> dict[str, Any]:
    return written(await handlers.record_attendance(rt, meeting_id, cmd, principal, ctx, key=key), response)


@router.post("/meetings/{meeting_id}/minutes", tags=["meetings"], summary="记录会议纪要")
async def record_minutes(
    meeting_id: str,
    cmd: RecordMinutes,
    rt: RuntimeDep,
    ctx: ContextDep,
    key: IdempotencyKeyDep,
    response: Response,
    principal: WriterPrincipal,
) -> dict[str, Any]:
    return written(await handlers.record_minutes(rt, meeting_id, cmd, principal, ctx, key=key), response)


@router.post("/meetings/{meeting_id}/decisions", status_code=201, tags=["meetings"], summary="记录议定事项")
async def record_decision(
    meeting_id: str,
    cmd: RecordDecision,
    rt: RuntimeDep,
    ctx: ContextDep,
    key: IdempotencyKeyDep,
    response: Response,
    principal: WriterPrincipal,
) -> dict[str, Any]:
    outcome, decision_id = await handlers.record_decision(rt, meeting_id, cmd, principal, ctx, key=key)
    return written(outcome, response, 201, decision_id=decision_id)


# -- reports ----------------------------------------------------------------------------------------------------


@router.get(
    "/programmes/{programme_id}/weekly-report", tags=["reports"], summary="周调度报告(DOCX)", dependencies=[MinSeqDep]
)
async def get_weekly_report(
    programme_id: str, rt: RuntimeDep, principal: PrincipalDep, day: Today, as_of: date | None = None
) -> Response:
    _only_wide_readers(principal)
    async with rt.pool.acquire() as conn:
        report = await weekly_report(conn, rt.schema, programme_id, as_of or day)
    name = f"weekly-report-{programme_id}-{(as_of or day).isoformat()}.docx"
    return Response(render_weekly_report(report), media_type=DOCX, headers=_attachment(name))


@router.get("/programmes/{programme_id}/ledger", tags=["reports"], summary="项目台账(XLSX)", dependencies=[MinSeqDep])
async def get_ledger(
    programme_id: str, rt: RuntimeDep, principal: PrincipalDep, day: Today, as_of: date | None = None
) -> Response:
    _only_wide_readers(principal)
    async with rt.pool.acquire() as conn:
        name, rows = await ledger_rows(conn, rt.schema, programme_id, as_of or day)
    filename = f"ledger-{programme_id}-{(as_of or day).isoformat()}.xlsx"
    return Response(render_ledger(name, as_of or day, rows), media_type=XLSX, headers=_attachment(filename))


def _only_wide_readers(principal: Principal) -> None:
    if principal.role not in {Role.HQ, Role.AUDITOR, Role.SUPERVISION, Role.ADMIN, Role.LEADER}:
        raise Problem(403, "报告面向指挥部办公室、市领导、督查室与审计")


def _attachment(filename: str) -> dict[str, str]:
    return {"Content-Disposition": f'attachment; filename="{filename}"'}
