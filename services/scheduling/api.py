"""scheduling's HTTP API: thin routes that build a command and make one call; lights, rules, monitoring and
reports are in `api_lights`."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Response

from services.scheduling import api_lights, api_meetings, api_reporting, api_year_end, handlers, queries_plans
from services.scheduling.commands import (
    ApproveBaseline,
    ApproveBaselineBody,
    CompleteMilestone,
    CompleteMilestoneBody,
    DecideExemption,
    DecideExemptionBody,
    DraftPlan,
    Rebaseline,
    RebaselineBody,
    RequestExemption,
    RequestExemptionBody,
    ReviseDraft,
    ReviseDraftBody,
)
from services.scheduling.deps import HQ, ID_PATTERN, WRITERS, Today
from services.scheduling.policies import can_read_project, visibility
from services.scheduling.read_model import PLANS
from services.scheduling.responses import ExemptionAnswer, ExemptionRequestedAnswer, ExemptionStatus, PlanAnswer
from shared.paging import Page, PagingDep, page_of
from shared.problems import Problem
from shared.project_directory import project_entry
from shared.responses import Written
from shared.time_travel import AsOfDep, fold_as_of
from shared.web import MetaDep, MinSeqDep, PrincipalDep, RuntimeDep, written

router = APIRouter(prefix="/v1")


# -- plans ------------------------------------------------------------------------------------------------------


@router.post(
    "/plans", status_code=201, tags=["plans"], summary="编制年度实施方案(含月度计划与节点)", dependencies=[WRITERS],
    response_model=Written,
)  # fmt: skip
async def draft_plan(cmd: DraftPlan, rt: RuntimeDep, meta: MetaDep, response: Response) -> dict[str, Any]:
    return written(await handlers.draft_plan(rt, cmd, meta), response, 201)


@router.get("/plans", tags=["plans"], summary="实施方案列表", dependencies=[MinSeqDep])
async def list_plans(
    rt: RuntimeDep,
    principal: PrincipalDep,
    paging: PagingDep,
    project_id: str | None = None,
    year: Annotated[int | None, Query(ge=1, le=9999, description="年度")] = None,  # a date's year (the column is int4)
) -> Page[PlanAnswer]:
    unit, leader = visibility(principal)
    async with rt.pool.acquire() as conn:
        items, total = await queries_plans.list_plans(
            conn, rt.schema, project_id=project_id, year=year, unit_id=unit, sponsor_id=leader, limit=paging.limit,
            offset=paging.offset,
        )  # fmt: skip
    return page_of(PlanAnswer, items, total, paging)


@router.get(
    "/plans/{plan_id}", tags=["plans"], summary="实施方案详情(含基准与节点;可查历史时刻 as_of)",
    description="给出 as_of 时为历史视图:该时刻记录的方案(草案、修订、基准、节点完成与豁免,由事件日志折叠);"
    "谁可查看按现行项目信息判断。",
    dependencies=[MinSeqDep],
)  # fmt: skip
async def get_plan(
    plan_id: str, rt: RuntimeDep, principal: PrincipalDep, response: Response, as_of: AsOfDep
) -> PlanAnswer:
    async with rt.pool.acquire() as conn:
        plan = await queries_plans.get_plan(conn, rt.schema, plan_id)
        if plan is None:
            raise Problem(404, "实施方案不存在")
        project = await project_entry(conn, rt.schema, plan["project_id"])
    if project is not None:
        can_read_project(principal, project)
    if as_of is not None:
        then = await fold_as_of(rt.store, PLANS, plan_id, as_of.moment, noun="实施方案", snapshots=rt.snapshots)
        plan = {**then.state.model_dump(mode="json"), "version": then.position.version}
        as_of.mark(response)
    response.headers["ETag"] = f'"{plan["version"]}"'
    return PlanAnswer.model_validate(plan)


@router.put(
    "/plans/{plan_id}", tags=["plans"], summary="修订方案草案(批准基准前)", dependencies=[WRITERS],
    response_model=Written,
)  # fmt: skip
async def revise_plan(
    plan_id: str, body: ReviseDraftBody, rt: RuntimeDep, meta: MetaDep, response: Response
) -> dict[str, Any]:
    return written(await handlers.revise_plan(rt, ReviseDraft(plan_id=plan_id, **dict(body)), meta), response)


@router.post(
    "/plans/{plan_id}/baseline", tags=["plans"], summary="批准为基准(指挥部办公室)", dependencies=[HQ],
    response_model=Written,
)  # fmt: skip
async def approve_baseline(
    plan_id: str, body: ApproveBaselineBody, rt: RuntimeDep, meta: MetaDep, response: Response
) -> dict[str, Any]:
    cmd = ApproveBaseline(plan_id=plan_id, **dict(body))
    return written(await handlers.approve_baseline(rt, cmd, meta), response)


@router.post(
    "/plans/{plan_id}/milestones/{milestone_id}/rebaseline", tags=["plans"], summary="调整节点日期(重新基准)",
    dependencies=[WRITERS], response_model=Written,
)  # fmt: skip
async def rebaseline(
    plan_id: str, milestone_id: str, body: RebaselineBody, rt: RuntimeDep, meta: MetaDep, response: Response
) -> dict[str, Any]:
    cmd = Rebaseline(plan_id=plan_id, milestone_id=milestone_id, **dict(body))
    return written(await handlers.rebaseline(rt, cmd, meta), response)


@router.post(
    "/plans/{plan_id}/milestones/{milestone_id}/complete", tags=["plans"], summary="节点完成", dependencies=[WRITERS],
    response_model=Written,
)  # fmt: skip
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
    dependencies=[WRITERS], response_model=ExemptionRequestedAnswer,
)  # fmt: skip
async def request_exemption(
    plan_id: str, body: RequestExemptionBody, rt: RuntimeDep, meta: MetaDep, response: Response
) -> dict[str, Any]:
    outcome, exemption_id = await handlers.request_exemption(rt, RequestExemption(plan_id=plan_id, **dict(body)), meta)
    return written(outcome, response, 201, exemption_id=exemption_id)


@router.get("/exemptions", tags=["exemptions"], summary="豁免申请队列(指挥部办公室审批用,默认待审批)",
            dependencies=[HQ, MinSeqDep])  # fmt: skip
async def exemption_queue(
    rt: RuntimeDep,
    paging: PagingDep,
    status: Annotated[ExemptionStatus, Query(description="状态:requested 待审批、approved 已批准、rejected 已驳回")] = (
        ExemptionStatus.REQUESTED
    ),
    programme_id: Annotated[str | None, Query(pattern=ID_PATTERN, description="年度重点项目批次编号")] = None,
) -> Page[ExemptionAnswer]:
    async with rt.pool.acquire() as conn:
        items, total = await queries_plans.exemption_queue(
            conn, rt.schema, status=status.value, programme_id=programme_id, limit=paging.limit, offset=paging.offset
        )
    return page_of(ExemptionAnswer, items, total, paging)


@router.post(
    "/plans/{plan_id}/exemptions/{exemption_id}/approve", tags=["exemptions"], summary="批准豁免", dependencies=[HQ],
    response_model=Written,
)  # fmt: skip
async def approve_exemption(
    plan_id: str, exemption_id: str, body: DecideExemptionBody, rt: RuntimeDep, meta: MetaDep, response: Response
) -> dict[str, Any]:
    cmd = DecideExemption(plan_id=plan_id, exemption_id=exemption_id, approve=True, **dict(body))
    return written(await handlers.decide_exemption(rt, cmd, meta), response)


@router.post(
    "/plans/{plan_id}/exemptions/{exemption_id}/reject", tags=["exemptions"], summary="驳回豁免", dependencies=[HQ],
    response_model=Written,
)  # fmt: skip
async def reject_exemption(
    plan_id: str, exemption_id: str, body: DecideExemptionBody, rt: RuntimeDep, meta: MetaDep, response: Response
) -> dict[str, Any]:
    cmd = DecideExemption(plan_id=plan_id, exemption_id=exemption_id, approve=False, **dict(body))
    return written(await handlers.decide_exemption(rt, cmd, meta), response)


router.include_router(api_meetings.router)
router.include_router(api_lights.router)
router.include_router(api_reporting.router)
router.include_router(api_year_end.router)
