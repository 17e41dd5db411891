"""intake's HTTP API: thin routes that translate requests into use cases and results into responses."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Response

from services.intake import handlers, identity, queries
from services.intake.commands import (
    AmendProject,
    AssignSponsor,
    AssignTaskForce,
    ChangePhase,
    RegisterProgramme,
    RegisterProject,
    ReportProgress,
)
from services.intake.policies import can_read_project, visibility_filter
from shared.auth import Principal
from shared.catalogue.intake import Category, Phase
from shared.commands import Outcome
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
)
from shared.web import written as shared_written

router = APIRouter(prefix="/v1")

HqPrincipal = Annotated[Principal, require_roles(Role.HQ)]
AdminPrincipal = Annotated[Principal, require_roles(Role.ADMIN)]
WriterPrincipal = Annotated[Principal, require_roles(Role.HQ, Role.UNIT)]


def written(outcome: Outcome, response: Response, status: int = 200) -> dict[str, Any]:
    return shared_written(outcome, response, status, location=f"/v1/projects/{outcome.aggregate_id}")


# -- programmes ---------------------------------------------------------------------------------------------


@router.post("/programmes", status_code=201, tags=["programmes"], summary="登记重点项目计划(如 2024 三十工程)")
async def register_programme(
    cmd: RegisterProgramme, rt: RuntimeDep, ctx: ContextDep, key: IdempotencyKeyDep, principal: HqPrincipal
) -> dict[str, Any]:
    outcome = await handlers.register_programme(rt, cmd, principal, ctx, key)
    return outcome.body()


@router.get("/programmes", tags=["programmes"], summary="计划列表", dependencies=[MinSeqDep])
async def list_programmes(rt: RuntimeDep, principal: PrincipalDep) -> list[dict[str, Any]]:
    async with rt.pool.acquire() as conn:
        return await queries.list_programmes(conn, rt.schema)


@router.get("/programmes/{programme_id}", tags=["programmes"], dependencies=[MinSeqDep])
async def get_programme(programme_id: str, rt: RuntimeDep, principal: PrincipalDep) -> dict[str, Any]:
    async with rt.pool.acquire() as conn:
        body = await queries.get_programme(conn, rt.schema, programme_id)
    if body is None:
        raise Problem(404, "计划不存在")
    return body


# -- projects -----------------------------------------------------------------------------------------------


@router.post("/projects", status_code=201, tags=["projects"], summary="登记项目(指挥部办公室)")
async def register_project(
    cmd: RegisterProject,
    rt: RuntimeDep,
    ctx: ContextDep,
    key: IdempotencyKeyDep,
    response: Response,
    principal: HqPrincipal,
) -> dict[str, Any]:
    return written(await handlers.register_project(rt, cmd, principal, ctx, key), response, 201)


@router.get(
    "/projects",
    tags=["projects"],
    summary="项目列表(可按计划、类别、责任单位、阶段筛选)",
    dependencies=[MinSeqDep],
)
async def list_projects(
    rt: RuntimeDep,
    principal: PrincipalDep,
    programme_id: str | None = None,
    category: Category | None = None,
    unit_id: str | None = None,
    phase: Phase | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> dict[str, Any]:
    own_unit, own_leader = visibility_filter(principal)
    if own_unit is not None and unit_id not in (None, own_unit):
        raise Problem(403, "责任单位只能查看本单位的项目")
    filters = {
        "programme_id": programme_id,
        "category": category.value if category else None,
        "unit_id": own_unit or unit_id,
        "phase": phase.value if phase else None,
        "sponsor_leader_id": own_leader,
    }
    async with rt.pool.acquire() as conn:
        items, total = await queries.list_projects(conn, rt.schema, filters=filters, limit=limit, offset=offset)
    return {"items": items, "total": total, "limit": limit, "offset": offset}


@router.get("/projects/{project_id}", tags=["projects"], dependencies=[MinSeqDep])
async def get_project(project_id: str, rt: RuntimeDep, principal: PrincipalDep, response: Response) -> dict[str, Any]:
    async with rt.pool.acquire() as conn:
        found = await queries.get_project(conn, rt.schema, project_id)
    if found is None:
        raise Problem(404, "项目不存在")
    state, version = found
    can_read_project(principal, state)
    response.headers["ETag"] = f'"{version}"'
    return queries.project_public(state, version)


@router.patch("/projects/{project_id}", tags=["projects"], summary="修改项目信息")
async def amend_project(
    project_id: str,
    cmd: AmendProject,
    rt: RuntimeDep,
    ctx: ContextDep,
    if_match: IfMatchDep,
    key: IdempotencyKeyDep,
    response: Response,
    principal: WriterPrincipal,
) -> dict[str, Any]:
    outcome = await handlers.amend_project(rt, project_id, cmd, principal, ctx, if_match=if_match, key=key)
    return written(outcome, response)


@router.put("/projects/{project_id}/task-force", tags=["projects"], summary="组建/调整项目专班")
async def assign_task_force(
    project_id: str,
    cmd: AssignTaskForce,
    rt: RuntimeDep,
    ctx: ContextDep,
    if_match: IfMatchDep,
    key: IdempotencyKeyDep,
    response: Response,
    principal: HqPrincipal,
) -> dict[str, Any]:
    outcome = await handlers.assign_task_force(rt, project_id, cmd, principal, ctx, if_match=if_match, key=key)
    return written(outcome, response)


@router.put("/projects/{project_id}/sponsor", tags=["projects"], summary="确定包保市领导")
async def assign_sponsor(
    project_id: str,
    cmd: AssignSponsor,
    rt: RuntimeDep,
    ctx: ContextDep,
    if_match: IfMatchDep,
    key: IdempotencyKeyDep,
    response: Response,
    principal: HqPrincipal,
) -> dict[str, Any]:
    outcome = await handlers.assign_sponsor(rt, project_id, cmd, principal, ctx, if_match=if_match, key=key)
    return written(outcome, response)


@router.post(
    "/projects/{project_id}/phase",
    tags=["projects"],
    summary="变更项目阶段(前期→在建→竣工→投产,暂停/恢复/取消)",
)
async def change_phase(
    project_id: str,
    cmd: ChangePhase,
    rt: RuntimeDep,
    ctx: ContextDep,
    if_match: IfMatchDep,
    key: IdempotencyKeyDep,
    response: Response,
    principal: WriterPrincipal,
) -> dict[str, Any]:
    outcome = await handlers.change_phase(rt, project_id, cmd, principal, ctx, if_match=if_match, key=key)
    return written(outcome, response)


@router.post("/projects/{project_id}/progress-reports", status_code=201, tags=["progress"], summary="进度填报")
async def report_progress(
    project_id: str,
    cmd: ReportProgress,
    rt: RuntimeDep,
    ctx: ContextDep,
    if_match: IfMatchDep,
    key: IdempotencyKeyDep,
    response: Response,
    principal: WriterPrincipal,
) -> dict[str, Any]:
    outcome = await handlers.report_progress(rt, project_id, cmd, principal, ctx, if_match=if_match, key=key)
    return written(outcome, response, 201)


@router.get("/projects/{project_id}/progress-reports", tags=["progress"], dependencies=[MinSeqDep])
async def list_progress_reports(project_id: str, rt: RuntimeDep, principal: PrincipalDep) -> list[dict[str, Any]]:
    async with rt.pool.acquire() as conn:
        found = await queries.get_project(conn, rt.schema, project_id)
        if found is None:
            raise Problem(404, "项目不存在")
        can_read_project(principal, found[0])
        return await queries.list_progress_reports(conn, rt.schema, project_id)


# -- organisations ------------------------------------------------------------------------------------------


@router.get("/organisations", tags=["identity"], summary="机构列表", dependencies=[MinSeqDep])
async def list_organisations(rt: RuntimeDep, principal: PrincipalDep) -> list[dict[str, Any]]:
    async with rt.pool.acquire() as conn:
        return await queries.list_organisations(conn, rt.schema)


@router.post("/organisations", status_code=201, tags=["identity"], summary="登记机构(系统管理)")
async def register_organisation(
    cmd: identity.RegisterOrganisation, rt: RuntimeDep, ctx: ContextDep, principal: AdminPrincipal
) -> dict[str, Any]:
    return (await identity.register_organisation(rt, cmd, ctx)).body()


@router.post("/organisations/{org_id}/credentials", status_code=201, tags=["identity"], summary="签发令牌(仅显示一次)")
async def issue_credential(
    org_id: str, cmd: identity.IssueCredential, rt: RuntimeDep, ctx: ContextDep, principal: AdminPrincipal
) -> dict[str, Any]:
    outcome, credential_id, token = await identity.issue_credential(rt, org_id, cmd, ctx)
    return {**outcome.body(), "credential_id": credential_id, "token": token}


@router.post("/organisations/{org_id}/credentials/{credential_id}/revoke", tags=["identity"], summary="吊销令牌")
async def revoke_credential(
    org_id: str,
    credential_id: str,
    cmd: identity.RevokeCredential,
    rt: RuntimeDep,
    ctx: ContextDep,
    principal: AdminPrincipal,
) -> dict[str, Any]:
    return (await identity.revoke_credential(rt, org_id, credential_id, cmd, ctx)).body()
