"""Change requests (变更申请) over HTTP: a unit files for its project, hq works its queue and decides.

Paths are fixed by issue 8 so that unit clients can rely on them: `/v1/projects/{id}/change-requests` (POST, GET),
`/v1/change-requests` (hq's queue), `/v1/change-requests/{id}` and `/v1/change-requests/{id}/decision`.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Response

from services.intake import handlers_change_requests as handlers
from services.intake import queries
from services.intake.commands_change_requests import (
    DecideChangeRequest,
    DecideChangeRequestBody,
    FileChangeRequest,
    FileChangeRequestBody,
)
from services.intake.policies import can_read_change_request_queue, can_read_project
from services.intake.queries_change_requests import get_change_request, list_change_requests
from services.intake.read_model import CHANGE_REQUESTS
from services.intake.responses import ChangeRequestAnswer, change_request_answer
from services.intake.responses import ChangeRequestStatus as Status
from shared.catalogue.intake import ChangeRequestKind
from shared.command_bodies import command_from
from shared.commands import Outcome
from shared.paging import Page, PagingDep, page_of
from shared.problems import Problem
from shared.responses import Written
from shared.time_travel import AsOfDep, fold_as_of
from shared.web import MetaDep, MinSeqDep, PrincipalDep, RuntimeDep, written

router = APIRouter(prefix="/v1", tags=["change-requests"])

ProjectId = Annotated[str, Path(description="项目编号")]
ChangeRequestId = Annotated[str, Path(description="变更申请编号")]
ID_PATTERN = r"^[A-Za-z0-9_-]{1,64}$"  # an id in a query is checked at the edge, never sent to the database as is


StatusQuery = Annotated[Status | None, Query(description="状态:pending 待审批、approved 已批准、rejected 已驳回")]


def request_written(outcome: Outcome, response: Response, status: int = 200) -> dict[str, Any]:
    return written(outcome, response, status, location=f"/v1/change-requests/{outcome.aggregate_id}")


@router.post(
    "/projects/{project_id}/change-requests",
    status_code=201,
    summary="提交变更申请(取消、暂停、恢复、调整节点日期、计划日期或计划投资;须经指挥部办公室批准)",
    response_model=Written,
)
async def file_change_request(
    project_id: ProjectId, body: FileChangeRequestBody, rt: RuntimeDep, meta: MetaDep, response: Response
) -> dict[str, Any]:
    cmd = command_from(FileChangeRequest, body, project_id=project_id)
    return request_written(await handlers.file_change_request(rt, cmd, meta), response, 201)


@router.get("/projects/{project_id}/change-requests", summary="项目的变更申请(可按状态筛选)", dependencies=[MinSeqDep])
async def project_change_requests(
    project_id: ProjectId,
    rt: RuntimeDep,
    principal: PrincipalDep,
    paging: PagingDep,
    status: StatusQuery = None,
) -> Page[ChangeRequestAnswer]:
    found = await queries.get_project(rt.pool, rt.schema, project_id)
    if found is None:
        raise Problem(404, "项目不存在")
    can_read_project(principal, found[0])
    filters = {"project_id": project_id, "status": status.value if status else None}
    items, total = await list_change_requests(
        rt.pool, rt.schema, filters=filters, limit=paging.limit, offset=paging.offset
    )
    return page_of(ChangeRequestAnswer, items, total, paging)


@router.get(
    "/change-requests", summary="变更申请队列(指挥部办公室审批用,默认待审批,按提交时间排序)", dependencies=[MinSeqDep]
)
async def change_request_queue(
    rt: RuntimeDep,
    principal: PrincipalDep,
    paging: PagingDep,
    status: Annotated[Status, Query(description="状态:pending 待审批、approved 已批准、rejected 已驳回")] = (
        Status.PENDING
    ),
    programme_id: Annotated[str | None, Query(pattern=ID_PATTERN, description="年度重点项目批次编号")] = None,
    kind: Annotated[ChangeRequestKind | None, Query(description="变更类型")] = None,
) -> Page[ChangeRequestAnswer]:
    can_read_change_request_queue(principal)
    filters = {"status": status.value, "programme_id": programme_id, "kind": kind.value if kind else None}
    items, total = await list_change_requests(
        rt.pool, rt.schema, filters=filters, limit=paging.limit, offset=paging.offset
    )
    return page_of(ChangeRequestAnswer, items, total, paging)


@router.get(
    "/change-requests/{change_request_id}", summary="变更申请详情(可查历史时刻 as_of)", dependencies=[MinSeqDep],
    description="给出 as_of 时为历史视图:该时刻记录的申请状态与版本(由事件日志折叠);谁可查看按现行项目信息判断。",
)  # fmt: skip
async def get_one(
    change_request_id: ChangeRequestId, rt: RuntimeDep, principal: PrincipalDep, response: Response, as_of: AsOfDep
) -> ChangeRequestAnswer:
    found = await get_change_request(rt.pool, rt.schema, change_request_id)
    project = None if found is None else await queries.get_project(rt.pool, rt.schema, found[0].project_id)
    if found is None or project is None:
        raise Problem(404, "变更申请不存在")
    can_read_project(principal, project[0])
    state, version = found
    if as_of is not None:
        then = await fold_as_of(
            rt.store, CHANGE_REQUESTS, change_request_id, as_of.moment, noun="变更申请", snapshots=rt.snapshots
        )
        state, version = then.state, then.position.version
        as_of.mark(response)
    response.headers["ETag"] = f'"{version}"'
    return change_request_answer(state, version)


@router.post(
    "/change-requests/{change_request_id}/decision",
    summary="审批变更申请(指挥部办公室:批准或驳回,并说明理由;批准后变更自动生效)",
    response_model=Written,
)
async def decide_change_request(
    change_request_id: ChangeRequestId, body: DecideChangeRequestBody, rt: RuntimeDep, meta: MetaDep, response: Response
) -> dict[str, Any]:
    cmd = command_from(DecideChangeRequest, body, change_request_id=change_request_id)
    return request_written(await handlers.decide(rt, cmd, meta), response)
