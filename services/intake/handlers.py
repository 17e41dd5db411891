"""intake's use cases, one `async def x(rt, cmd, meta) -> Outcome` per command.

A handler only authorises (policies.py), checks what the command names outside its own aggregate (through
queries.py), and hands a pure decision from domain.py / identity.py to `shared.commands.handle`, which loads the
aggregate, decides, and appends, guarded by the meta's If-Match and Idempotency-Key.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass

from services.intake import domain, identity, policies, queries
from services.intake.commands import (
    AmendProject,
    AssignSponsor,
    AssignTaskForce,
    ChangePhase,
    IssueCredential,
    RegisterOrganisation,
    RegisterProgramme,
    RegisterProject,
    ReportProgress,
    RevokeCredential,
)
from services.intake.domain import ProjectState
from services.intake.read_model import ORGANISATIONS, PROGRAMMES, PROJECTS
from shared.auth import new_token, token_digest
from shared.commands import CommandMeta, Outcome, already_applied, handle
from shared.domain_errors import Conflict, Invalid
from shared.envelope import Role
from shared.runtime import Runtime

# -- programmes and projects --------------------------------------------------------------------------------


async def register_programme(rt: Runtime, cmd: RegisterProgramme, meta: CommandMeta) -> Outcome:
    policies.can_register(meta.principal)
    programme_id = cmd.id or meta.new_id("p", "programme")
    return await handle(
        rt,
        PROGRAMMES,
        programme_id,
        lambda s: domain.decide_register_programme(s, cmd),
        meta,
        scope="register_programme",
    )


async def register_project(rt: Runtime, cmd: RegisterProject, meta: CommandMeta) -> Outcome:
    policies.can_register(meta.principal)
    scope = "register_project"
    # A retry of a registration that went through is answered as the first was, not refused for its own code.
    if not await _done_before(rt, meta, scope):
        await _check_project_references(rt, cmd)
    project_id = cmd.id or meta.new_id("p", "project")
    return await handle(rt, PROJECTS, project_id, lambda s: domain.decide_register_project(s, cmd), meta, scope=scope)


async def amend_project(rt: Runtime, cmd: AmendProject, meta: CommandMeta) -> Outcome:
    if cmd.code is not None:
        await _check_code_free(rt, cmd.code, holder_allowed=cmd.project_id)
    return await handle(
        rt,
        PROJECTS,
        cmd.project_id,
        lambda s: domain.decide_amend_project(s, cmd),
        meta,
        scope=f"amend:{cmd.project_id}",
        authorize=_responsible(meta),
    )


async def assign_task_force(rt: Runtime, cmd: AssignTaskForce, meta: CommandMeta) -> Outcome:
    policies.can_coordinate(meta.principal)
    return await handle(
        rt,
        PROJECTS,
        cmd.project_id,
        lambda s: domain.decide_assign_task_force(s, cmd),
        meta,
        scope=f"task_force:{cmd.project_id}",
    )


async def assign_sponsor(rt: Runtime, cmd: AssignSponsor, meta: CommandMeta) -> Outcome:
    policies.can_coordinate(meta.principal)
    await _check_organisation(rt, cmd.sponsor_leader_id, Role.LEADER, "sponsor_leader_id")
    return await handle(
        rt,
        PROJECTS,
        cmd.project_id,
        lambda s: domain.decide_assign_sponsor(s, cmd),
        meta,
        scope=f"sponsor:{cmd.project_id}",
    )


async def change_phase(rt: Runtime, cmd: ChangePhase, meta: CommandMeta) -> Outcome:
    return await handle(
        rt,
        PROJECTS,
        cmd.project_id,
        lambda s: domain.decide_change_phase(s, cmd),
        meta,
        scope=f"phase:{cmd.project_id}",
        authorize=_responsible(meta),
    )


async def report_progress(rt: Runtime, cmd: ReportProgress, meta: CommandMeta) -> Outcome:
    report_id = meta.new_id("r", f"report:{cmd.project_id}")
    return await handle(
        rt,
        PROJECTS,
        cmd.project_id,
        lambda s: domain.decide_report_progress(s, cmd, report_id=report_id),
        meta,
        scope=f"progress:{cmd.project_id}",
        authorize=_responsible(meta),
    )


def _responsible(meta: CommandMeta) -> Callable[[ProjectState | None], None]:
    """hq or the project's responsible unit may write to it (a project that does not exist is 404, not 403)."""
    return lambda state: policies.can_write_project(meta.principal, domain.must_exist(state))


# -- organisations and credentials --------------------------------------------------------------------------


async def register_organisation(rt: Runtime, cmd: RegisterOrganisation, meta: CommandMeta) -> Outcome:
    policies.can_manage_identity(meta.principal)
    return await handle(
        rt,
        ORGANISATIONS,
        cmd.id,
        lambda s: identity.decide_register_organisation(s, cmd),
        meta,
        scope="register_organisation",
    )


@dataclass(frozen=True)
class IssuedCredential:
    outcome: Outcome
    credential_id: str
    token: str  # shown to the caller once; only its digest is appended


async def issue_credential(rt: Runtime, cmd: IssueCredential, meta: CommandMeta) -> IssuedCredential:
    policies.can_manage_identity(meta.principal)
    if meta.idempotency_key is not None:
        # A replay could only answer with the digest: the token itself is kept nowhere, so it cannot be shown again.
        raise Invalid(
            "签发令牌不支持 Idempotency-Key:令牌只显示一次,重试请重新签发并吊销多余的令牌",
            field="Idempotency-Key",
            reason="not supported: a token is shown only once",
        )
    token, credential_id = new_token(), "c" + uuid.uuid4().hex[:16]
    outcome = await handle(
        rt,
        ORGANISATIONS,
        cmd.org_id,
        lambda s: identity.decide_issue_credential(
            s, cmd, credential_id=credential_id, token_sha256=token_digest(token)
        ),
        meta,
        scope=f"issue_credential:{cmd.org_id}",
    )
    return IssuedCredential(outcome, credential_id, token)


async def revoke_credential(rt: Runtime, cmd: RevokeCredential, meta: CommandMeta) -> Outcome:
    policies.can_manage_identity(meta.principal)
    return await handle(
        rt,
        ORGANISATIONS,
        cmd.org_id,
        lambda s: identity.decide_revoke_credential(s, cmd),
        meta,
        scope=f"revoke_credential:{cmd.org_id}:{cmd.credential_id}",
    )


# -- references a decision cannot see: they live in other aggregates, so they are read from the read model ------


async def _done_before(rt: Runtime, meta: CommandMeta, scope: str) -> bool:
    event_id = meta.event_id(scope)
    return event_id is not None and await already_applied(rt.pool, rt.schema, event_id) is not None


async def _check_project_references(rt: Runtime, cmd: RegisterProject) -> None:
    if not await queries.programme_exists(rt.pool, rt.schema, cmd.programme_id):
        raise Invalid("所属计划不存在", field="programme_id", reason="no such programme")
    await _check_organisation(rt, cmd.unit_id, Role.UNIT, "unit_id")
    if cmd.sponsor_leader_id is not None:
        await _check_organisation(rt, cmd.sponsor_leader_id, Role.LEADER, "sponsor_leader_id")
    if cmd.code is not None:
        await _check_code_free(rt, cmd.code, holder_allowed=None)


ORGANISATION_KINDS = {Role.UNIT: ("责任单位", "responsible unit"), Role.LEADER: ("包保市领导", "leader")}


async def _check_organisation(rt: Runtime, org_id: str, role: Role, field: str) -> None:
    if await queries.organisation_role(rt.pool, rt.schema, org_id) != role:
        chinese, english = ORGANISATION_KINDS[role]
        raise Invalid(
            f"{chinese} {org_id} 不存在(须为角色 {role.value} 的机构)",
            field=field,
            reason=f"no such {english} (organisation with role {role.value})",
        )


async def _check_code_free(rt: Runtime, code: str, *, holder_allowed: str | None) -> None:
    holder = await queries.project_with_code(rt.pool, rt.schema, code)
    if holder is not None and holder != holder_allowed:
        raise Conflict(
            "全国投资项目代码已被其他项目使用", field="code", reason="another project already has this national code"
        )
