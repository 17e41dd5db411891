"""intake's HTTP API: thin routes that translate requests into commands and results into responses.

A write route builds the whole command (ids from the path included, `command_from`) and makes one call,
`handler(rt, cmd, meta)`; `meta` (shared.web.MetaDep) carries the principal, the request context, If-Match and
Idempotency-Key. A read route asks queries.py and lets policies.py say what the caller may see.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Response

from services.intake import handlers, queries
from services.intake.commands import (
    AmendProject,
    AmendProjectBody,
    AssignSponsor,
    AssignSponsorBody,
    AssignTaskForce,
    AssignTaskForceBody,
    ChangePhase,
    ChangePhaseBody,
    IssueCredential,
    IssueCredentialBody,
    RegisterOrganisation,
    RegisterProgramme,
    RegisterProject,
    RevokeCredential,
    RevokeCredentialBody,
)
from services.intake.policies import can_read_project, listing_scope
from services.intake.read_model import PROGRAMMES, PROJECTS
from services.intake.responses import (
    CredentialIssuedAnswer,
    OrganisationAnswer,
    ProgrammeAnswer,
    ProjectAnswer,
    project_answer,
)
from shared.catalogue.intake import Category, Phase
from shared.command_bodies import command_from
from shared.commands import Outcome
from shared.paging import Page, PagingDep, page_of
from shared.problems import Problem
from shared.responses import Written
from shared.time_travel import AsOfDep, fold_as_of
from shared.web import MetaDep, MinSeqDep, PrincipalDep, RuntimeDep, written

router = APIRouter(prefix="/v1")

ProjectId = Annotated[str, Path(description="项目编号")]
ProgrammeId = Annotated[str, Path(description="年度重点项目批次编号")]
OrgId = Annotated[str, Path(description="机构编号")]
CredentialId = Annotated[str, Path(description="凭据编号")]


def project_written(outcome: Outcome, response: Response, status: int = 200) -> dict[str, Any]:
    return written(outcome, response, status, location=f"/v1/projects/{outcome.aggregate_id}")


# -- programmes ---------------------------------------------------------------------------------------------


@router.post(
    "/programmes", status_code=201, tags=["programmes"], summary="登记年度重点项目批次(如 2024 三十工程)",
    response_model=Written,
)  # fmt: skip
async def register_programme(
    cmd: RegisterProgramme, rt: RuntimeDep, meta: MetaDep, response: Response
) -> dict[str, Any]:
    outcome = await handlers.register_programme(rt, cmd, meta)
    return written(outcome, response, 201, location=f"/v1/programmes/{outcome.aggregate_id}")


@router.get("/programmes", tags=["programmes"], summary="年度重点项目批次列表", dependencies=[MinSeqDep])
async def list_programmes(rt: RuntimeDep, principal: PrincipalDep, paging: PagingDep) -> Page[ProgrammeAnswer]:
    items, total = await queries.list_programmes(rt.pool, rt.schema, limit=paging.limit, offset=paging.offset)
    return page_of(ProgrammeAnswer, items, total, paging)


@router.get(
    "/programmes/{programme_id}", tags=["programmes"], summary="年度重点项目批次详情(可查历史时刻 as_of)",
    dependencies=[MinSeqDep],
    description="给出 as_of 时为历史视图:该时刻记录的批次信息,project_count 为该时刻前登记的项目数。",
)  # fmt: skip
async def get_programme(
    programme_id: ProgrammeId, rt: RuntimeDep, principal: PrincipalDep, as_of: AsOfDep, response: Response
) -> ProgrammeAnswer:
    if as_of is not None:
        then = await fold_as_of(
            rt.store, PROGRAMMES, programme_id, as_of.moment, noun="年度重点项目批次", snapshots=rt.snapshots
        )
        as_of.mark(response)
        count = await queries.programme_project_count(rt.pool, rt.schema, programme_id, as_of.moment)
        shown = {**then.state.model_dump(), "version": then.position.version, "project_count": count}
        return ProgrammeAnswer.model_validate(shown)
    body = await queries.get_programme(rt.pool, rt.schema, programme_id)
    if body is None:
        raise Problem(404, "年度重点项目批次不存在")
    return ProgrammeAnswer.model_validate(body)


# -- projects -----------------------------------------------------------------------------------------------


@router.post("/projects", status_code=201, tags=["projects"], summary="登记项目(指挥部办公室)", response_model=Written)
async def register_project(cmd: RegisterProject, rt: RuntimeDep, meta: MetaDep, response: Response) -> dict[str, Any]:
    return project_written(await handlers.register_project(rt, cmd, meta), response, 201)


@router.get(
    "/projects",
    tags=["projects"],
    summary="项目列表(可按年度重点项目批次、类别、责任单位、阶段筛选)",
    dependencies=[MinSeqDep],
)
async def list_projects(
    rt: RuntimeDep,
    principal: PrincipalDep,
    paging: PagingDep,
    programme_id: Annotated[str | None, Query(description="年度重点项目批次编号")] = None,
    category: Annotated[Category | None, Query(description="类别")] = None,
    unit_id: Annotated[str | None, Query(description="责任单位编号")] = None,
    phase: Annotated[Phase | None, Query(description="阶段")] = None,
) -> Page[ProjectAnswer]:
    unit, sponsor = listing_scope(principal, unit_id)
    filters = {
        "programme_id": programme_id,
        "category": category.value if category else None,
        "unit_id": unit,
        "phase": phase.value if phase else None,
        "sponsor_leader_id": sponsor,
    }
    items, total = await queries.list_projects(
        rt.pool, rt.schema, filters=filters, limit=paging.limit, offset=paging.offset
    )
    return page_of(ProjectAnswer, items, total, paging)


@router.get(
    "/projects/{project_id}", tags=["projects"], summary="项目详情(可查历史时刻 as_of)", dependencies=[MinSeqDep],
    description="给出 as_of 时为历史视图:该时刻平台记录的项目信息与版本(由事件日志折叠,与现行详情同一格式);"
    "谁可查看按现行项目信息判断。",
)  # fmt: skip
async def get_project(
    project_id: ProjectId, rt: RuntimeDep, principal: PrincipalDep, response: Response, as_of: AsOfDep
) -> ProjectAnswer:
    found = await queries.get_project(rt.pool, rt.schema, project_id)
    if found is None:
        raise Problem(404, "项目不存在")
    state, version = found
    can_read_project(principal, state)  # who may read is a question of now, also for a historical view
    if as_of is not None:
        then = await fold_as_of(rt.store, PROJECTS, project_id, as_of.moment, noun="项目", snapshots=rt.snapshots)
        state, version = then.state, then.position.version
        as_of.mark(response)
    response.headers["ETag"] = f'"{version}"'
    return project_answer(state, version)


@router.patch("/projects/{project_id}", tags=["projects"], summary="修改项目信息", response_model=Written)
async def amend_project(
    project_id: ProjectId, body: AmendProjectBody, rt: RuntimeDep, meta: MetaDep, response: Response
) -> dict[str, Any]:
    cmd = command_from(AmendProject, body, project_id=project_id)
    return project_written(await handlers.amend_project(rt, cmd, meta), response)


@router.put("/projects/{project_id}/task-force", tags=["projects"], summary="组建/调整项目专班", response_model=Written)
async def assign_task_force(
    project_id: ProjectId, body: AssignTaskForceBody, rt: RuntimeDep, meta: MetaDep, response: Response
) -> dict[str, Any]:
    cmd = command_from(AssignTaskForce, body, project_id=project_id)
    return project_written(await handlers.assign_task_force(rt, cmd, meta), response)


@router.put("/projects/{project_id}/sponsor", tags=["projects"], summary="确定包保市领导", response_model=Written)
async def assign_sponsor(
    project_id: ProjectId, body: AssignSponsorBody, rt: RuntimeDep, meta: MetaDep, response: Response
) -> dict[str, Any]:
    cmd = command_from(AssignSponsor, body, project_id=project_id)
    return project_written(await handlers.assign_sponsor(rt, cmd, meta), response)


@router.post(
    "/projects/{project_id}/phase",
    tags=["projects"],
    summary="变更项目阶段(前期→在建→竣工→投产,暂停/恢复/取消)",
    response_model=Written,
)
async def change_phase(
    project_id: ProjectId, body: ChangePhaseBody, rt: RuntimeDep, meta: MetaDep, response: Response
) -> dict[str, Any]:
    cmd = command_from(ChangePhase, body, project_id=project_id)
    return project_written(await handlers.change_phase(rt, cmd, meta), response)


# -- organisations and credentials --------------------------------------------------------------------------


@router.get("/organisations", tags=["identity"], summary="机构列表", dependencies=[MinSeqDep])
async def list_organisations(rt: RuntimeDep, principal: PrincipalDep, paging: PagingDep) -> Page[OrganisationAnswer]:
    items, total = await queries.list_organisations(rt.pool, rt.schema, limit=paging.limit, offset=paging.offset)
    return page_of(OrganisationAnswer, items, total, paging)


@router.post("/organisations", status_code=201, tags=["identity"], summary="登记机构(系统管理)", response_model=Written)
async def register_organisation(
    cmd: RegisterOrganisation, rt: RuntimeDep, meta: MetaDep, response: Response
) -> dict[str, Any]:
    return written(await handlers.register_organisation(rt, cmd, meta), response, 201)


@router.post(
    "/organisations/{org_id}/credentials",
    status_code=201,
    tags=["identity"],
    summary="签发令牌(仅显示一次)",
    description="令牌只在本次响应中显示,平台只保存其摘要;因此不接受 Idempotency-Key(重放无法再次显示令牌)。",
    response_model=CredentialIssuedAnswer,
)
async def issue_credential(
    org_id: OrgId, body: IssueCredentialBody, rt: RuntimeDep, meta: MetaDep, response: Response
) -> dict[str, Any]:
    cmd = command_from(IssueCredential, body, org_id=org_id)
    issued = await handlers.issue_credential(rt, cmd, meta)
    return written(issued.outcome, response, 201, credential_id=issued.credential_id, token=issued.token)


@router.post(
    "/organisations/{org_id}/credentials/{credential_id}/revoke", tags=["identity"], summary="吊销令牌",
    response_model=Written,
)  # fmt: skip
async def revoke_credential(
    org_id: OrgId, credential_id: CredentialId, body: RevokeCredentialBody, rt: RuntimeDep, meta: MetaDep,
    response: Response,
) -> dict[str, Any]:  # fmt: skip
    cmd = command_from(RevokeCredential, body, org_id=org_id, credential_id=credential_id)
    return written(await handlers.revoke_credential(rt, cmd, meta), response)
