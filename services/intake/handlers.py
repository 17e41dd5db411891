"""intake's use cases, one `async def x(rt, cmd, meta) -> Outcome` per command.

A handler only authorises (policies.py), checks what the command names outside its own aggregate (through
queries.py), and hands a pure decision from domain.py / identity.py to `shared.commands.handle`, which loads the
aggregate, decides, and appends, guarded by the meta's If-Match and Idempotency-Key.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TypeVar

from services.intake import code_claims, domain, identity, policies, queries
from services.intake.commands import (
    AmendProject,
    AssignSponsor,
    AssignTaskForce,
    ChangePhase,
    ClaimProjectCode,
    IssueCredential,
    RegisterOrganisation,
    RegisterProgramme,
    RegisterProject,
    ReleaseProjectCode,
    RevokeCredential,
)
from services.intake.domain import ProjectState
from services.intake.handlers_change_requests import (
    BASELINE_FIELDS,
    PHASES_BY_REQUEST,
    refuse_unit_baseline_change,
)
from services.intake.read_model import ORGANISATIONS, PROGRAMMES, PROJECT_CODES, PROJECTS
from shared.auth import new_token, token_digest
from shared.commands import AggregateSpec, CommandMeta, Outcome, already_applied, handle, load
from shared.domain_errors import Invalid
from shared.envelope import Role
from shared.eventstore import subject_token_ok
from shared.runtime import Runtime

S = TypeVar("S")

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
    project_id = cmd.id or meta.new_id("p", "project")
    # A retry of a registration that went through is answered as the first was, not refused for its own code.
    if not await _done_before(rt, meta, scope):
        year = await _check_project_references(rt, cmd, project_id)
        # Refuse a registration that cannot succeed before it claims a code.
        domain.decide_register_project(None, cmd)
        if cmd.code is not None:
            await _claim_code(rt, cmd.code, year, project_id, meta)
    return await handle(rt, PROJECTS, project_id, lambda s: domain.decide_register_project(s, cmd), meta, scope=scope)


async def amend_project(rt: Runtime, cmd: AmendProject, meta: CommandMeta) -> Outcome:
    moved = [name for name in BASELINE_FIELDS if getattr(cmd, name) is not None]
    if moved:
        await refuse_unit_baseline_change(rt, meta, cmd.project_id, BASELINE_FIELDS[moved[0]], moved[0])
    given_up = await _claim_amended_code(rt, cmd, meta)
    outcome = await handle(
        rt,
        PROJECTS,
        cmd.project_id,
        lambda s: domain.decide_amend_project(s, cmd),
        meta,
        scope=f"amend:{cmd.project_id}",
        authorize=_responsible(meta),
    )
    if given_up is not None:
        # Missed if the process dies here: the old claim then stays until another project takes it over (its
        # holder no longer carries the code), see code_claims.py.
        await _release_code(rt, given_up, cmd.project_id, meta)
    return outcome


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
    if cmd.phase in PHASES_BY_REQUEST:
        # A unit's cancel or suspend is a change request (变更申请) that hq decides.
        await refuse_unit_baseline_change(rt, meta, cmd.project_id, PHASES_BY_REQUEST[cmd.phase], "phase")
    return await handle(
        rt,
        PROJECTS,
        cmd.project_id,
        lambda s: domain.decide_change_phase(s, cmd),
        meta,
        scope=f"phase:{cmd.project_id}",
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
            reason="不支持:令牌只显示一次",
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


async def _as_logged(rt: Runtime, spec: AggregateSpec[S], aggregate_id: str) -> S | None:
    """An aggregate as the log holds it now: the read model's row and the events after it. Where the read model
    does not show an aggregate, it may be one registered a moment ago that the projection has not folded yet (it
    lingers up to 40 ms to batch): a client that registers a programme and then its projects must not be told the
    programme does not exist. One direct get, only on this path."""
    if not subject_token_ok(aggregate_id):
        return None
    return (await load(rt.pool, rt.store, rt.schema, spec, aggregate_id)).state


async def _check_project_references(rt: Runtime, cmd: RegisterProject, project_id: str) -> int:
    """Check what a registration names outside its own aggregate; returns the programme's year."""
    year = await queries.programme_year(rt.pool, rt.schema, cmd.programme_id)
    if year is None and (programme := await _as_logged(rt, PROGRAMMES, cmd.programme_id)) is not None:
        year = programme.year
    if year is None:
        raise Invalid("所属年度重点项目批次不存在", field="programme_id", reason="年度重点项目批次不存在")
    await _check_organisation(rt, cmd.unit_id, Role.UNIT, "unit_id")
    if cmd.sponsor_leader_id is not None:
        await _check_organisation(rt, cmd.sponsor_leader_id, Role.LEADER, "sponsor_leader_id")
    if cmd.code is not None:
        # The project itself may hold it: a retry whose first try the read model shows already.
        await _check_code_free(rt, cmd.code, year, holder_allowed=project_id)
    return year


ORGANISATION_KINDS = {Role.UNIT: "责任单位", Role.LEADER: "包保市领导"}


async def _check_organisation(rt: Runtime, org_id: str, role: Role, field: str) -> None:
    found = await queries.organisation_role(rt.pool, rt.schema, org_id)
    if found is None and (organisation := await _as_logged(rt, ORGANISATIONS, org_id)) is not None:
        found = organisation.role
    if found != role:
        chinese = ORGANISATION_KINDS[role]
        raise Invalid(
            f"{chinese} {org_id} 不存在(须为角色 {role.value} 的机构)",
            field=field,
            reason=f"{chinese}不存在(须为角色 {role.value} 的机构)",
        )


async def _check_code_free(rt: Runtime, code: str, year: int, *, holder_allowed: str | None) -> None:
    """The read model's answer, which lags: it only covers projects registered before codes were claimed, so it
    counts only when the log holds no claim for the code (a claim, held or released, is the answer then)."""
    holder = await queries.project_with_code(rt.pool, rt.schema, code, year)
    if holder is None or holder == holder_allowed:
        return
    claim = await load(rt.pool, rt.store, rt.schema, PROJECT_CODES, code_claims.claim_id(code, year))
    if claim.state is None:
        raise code_claims.code_taken(code, year, holder, pending=False)


# -- national code claims (code_claims.py, docs/adr/0009) -----------------------------------------------------

# Read here so that a test can shorten it (the claim's age is measured on the log's recorded_at, platform clock).
CODE_CLAIM_GRACE = code_claims.CLAIM_GRACE


def _claim_meta(meta: CommandMeta) -> CommandMeta:
    """A claim's own guards: If-Match is the project's version, not the claim's; and no key-derived event id,
    since a claim is idempotent by its project id, and an id remembered as applied would let a late retry of a
    taken-over claim pass as if it still held the code."""
    return replace(meta, if_match=None, idempotency_key=None)


async def _claim_code(rt: Runtime, code: str, year: int, project_id: str, meta: CommandMeta) -> None:
    """Claim (code, year) for a project, or 409 naming `code` and its holder (see code_claims.decide_claim_code)."""
    claim_id = code_claims.claim_id(code, year)
    current = await load(rt.pool, rt.store, rt.schema, PROJECT_CODES, claim_id)
    holder = current.state.project_id if current.state is not None else None
    carries = holder is not None and holder != project_id and await _carries_code(rt, holder, code)
    cmd = ClaimProjectCode(code=code, year=year, project_id=project_id)
    await handle(
        rt,
        PROJECT_CODES,
        claim_id,
        lambda s: code_claims.decide_claim_code(
            s,
            cmd,
            checked_holder=holder,
            holder_carries_code=carries,
            now=rt.clock.now(),  # the clock that stamped the claim's recorded_at (ADR 0017)
            grace=CODE_CLAIM_GRACE,
        ),
        _claim_meta(meta),
        scope=f"claim_code:{claim_id}",
    )


async def _carries_code(rt: Runtime, project_id: str, code: str) -> bool:
    """Whether a project carries a code, as the log says (its row plus the events after it), not the read model."""
    project = (await load(rt.pool, rt.store, rt.schema, PROJECTS, project_id)).state
    return project is not None and project.code == code


async def _claim_amended_code(rt: Runtime, cmd: AmendProject, meta: CommandMeta) -> str | None:
    """Claim the code an amendment gives a project; returns the claim id of the code it gives up, if any.

    The amendment is authorised and checked first, so that a refused one claims nothing."""
    if cmd.code is None:
        return None
    project = domain.must_exist((await load(rt.pool, rt.store, rt.schema, PROJECTS, cmd.project_id)).state)
    policies.can_write_project(meta.principal, project)
    domain.decide_amend_project(project, cmd)
    if project.code == cmd.code:
        return None
    year = await queries.programme_year(rt.pool, rt.schema, project.programme_id)
    if year is None:  # the project names a programme, and a programme is never removed
        raise RuntimeError(f"programme {project.programme_id} of project {project.id} is not in the read model")
    await _check_code_free(rt, cmd.code, year, holder_allowed=cmd.project_id)
    await _claim_code(rt, cmd.code, year, cmd.project_id, meta)
    return None if project.code is None else code_claims.claim_id(project.code, year)


async def _release_code(rt: Runtime, claim_id: str, project_id: str, meta: CommandMeta) -> None:
    cmd = ReleaseProjectCode(project_id=project_id)
    await handle(
        rt,
        PROJECT_CODES,
        claim_id,
        lambda s: code_claims.decide_release_code(s, cmd),
        _claim_meta(meta),
        scope=f"release_code:{claim_id}",
    )
