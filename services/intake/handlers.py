"""intake's use cases: load -> decide -> append, each a few lines."""

from __future__ import annotations

import uuid

from services.intake import domain
from services.intake.commands import (
    AmendProject,
    AssignSponsor,
    AssignTaskForce,
    ChangePhase,
    RegisterProgramme,
    RegisterProject,
    ReportProgress,
)
from services.intake.policies import can_write_project
from services.intake.read_model import PROGRAMMES, PROJECTS
from shared.auth import Principal
from shared.catalogue.intake import (
    ProgrammeRegistered,
    ProjectDetailsAmended,
    ProjectRegistered,
    SponsorAssigned,
    TaskForceAssigned,
)
from shared.commands import Outcome, already_applied, execute, idempotent_event_id
from shared.eventstore import Context
from shared.problems import field_error
from shared.runtime import Runtime


def _event_id(principal: Principal, key: str | None, scope: str) -> uuid.UUID | None:
    return idempotent_event_id(principal.org_id, key, scope) if key else None


def _new_id(principal: Principal, key: str | None, scope: str) -> str:
    """A new aggregate id; derived from the Idempotency-Key so that a retried creation targets the same one."""
    if key:
        return "p" + idempotent_event_id(principal.org_id, key, scope + ":id").hex[:20]
    return "p" + uuid.uuid4().hex[:20]


async def register_programme(
    rt: Runtime, cmd: RegisterProgramme, principal: Principal, ctx: Context, key: str | None
) -> Outcome:
    programme_id = cmd.id or _new_id(principal, key, "programme")

    def decide(state: domain.ProgrammeState | None) -> ProgrammeRegistered:
        if state is not None:
            raise field_error("id", "programme already exists", 409)
        return ProgrammeRegistered(**cmd.model_dump(exclude={"id"}))

    return await execute(
        pool=rt.pool,
        store=rt.store,
        schema=rt.schema,
        spec=PROGRAMMES,
        aggregate_id=programme_id,
        decide=decide,
        context=ctx,
        event_id=_event_id(principal, key, "register_programme"),
    )


async def _check_references(rt: Runtime, cmd: RegisterProject) -> None:
    async with rt.pool.acquire() as conn:
        if not await conn.fetchval(f"SELECT 1 FROM {rt.schema}.programmes WHERE id = $1", cmd.programme_id):
            raise field_error("programme_id", "no such programme")
        unit_role = await conn.fetchval(f"SELECT role FROM {rt.schema}.organisations WHERE id = $1", cmd.unit_id)
        if unit_role != "unit":
            raise field_error("unit_id", "no such responsible unit (organisation with role unit)")
        if cmd.sponsor_leader_id is not None:
            role = await conn.fetchval(
                f"SELECT role FROM {rt.schema}.organisations WHERE id = $1", cmd.sponsor_leader_id
            )
            if role != "leader":
                raise field_error("sponsor_leader_id", "no such leader (organisation with role leader)")
        if cmd.code is not None and await conn.fetchval(
            f"SELECT id FROM {rt.schema}.projects WHERE code = $1", cmd.code
        ):
            raise field_error("code", "another project already has this national code", 409)


async def register_project(
    rt: Runtime, cmd: RegisterProject, principal: Principal, ctx: Context, key: str | None
) -> Outcome:
    event_id = _event_id(principal, key, "register_project")
    project_id = cmd.id or _new_id(principal, key, "project")
    if event_id is None or await already_applied(rt.pool, rt.schema, event_id) is None:
        await _check_references(rt, cmd)
    event = ProjectRegistered(**cmd.model_dump(exclude={"id"}))
    return await execute(
        pool=rt.pool,
        store=rt.store,
        schema=rt.schema,
        spec=PROJECTS,
        aggregate_id=project_id,
        decide=lambda state: domain.decide_register(state, event),
        context=ctx,
        event_id=event_id,
    )


async def _project_command(
    rt: Runtime,
    project_id: str,
    decide: domain.Decide,
    principal: Principal,
    ctx: Context,
    *,
    if_match: int | None,
    key: str | None,
    scope: str,
) -> Outcome:
    return await execute(
        pool=rt.pool,
        store=rt.store,
        schema=rt.schema,
        spec=PROJECTS,
        aggregate_id=project_id,
        decide=decide,
        context=ctx,
        if_match=if_match,
        event_id=_event_id(principal, key, f"{scope}:{project_id}"),
        authorize=lambda state: can_write_project(principal, domain.must_exist(state)),
    )


async def amend_project(
    rt: Runtime,
    project_id: str,
    cmd: AmendProject,
    principal: Principal,
    ctx: Context,
    *,
    if_match: int | None,
    key: str | None,
) -> Outcome:
    if cmd.code is not None:
        async with rt.pool.acquire() as conn:
            holder = await conn.fetchval(f"SELECT id FROM {rt.schema}.projects WHERE code = $1", cmd.code)
        if holder is not None and holder != project_id:
            raise field_error("code", "another project already has this national code", 409)
    event = ProjectDetailsAmended(**cmd.model_dump(exclude_unset=True))
    return await _project_command(
        rt,
        project_id,
        lambda s: domain.decide_amend(s, event),
        principal,
        ctx,
        if_match=if_match,
        key=key,
        scope="amend",
    )


async def assign_task_force(
    rt: Runtime,
    project_id: str,
    cmd: AssignTaskForce,
    principal: Principal,
    ctx: Context,
    *,
    if_match: int | None,
    key: str | None,
) -> Outcome:
    def decide(state: domain.ProjectState | None) -> TaskForceAssigned:
        domain.must_exist(state)
        return TaskForceAssigned(task_force=cmd.task_force)

    return await _project_command(
        rt, project_id, decide, principal, ctx, if_match=if_match, key=key, scope="task_force"
    )


async def assign_sponsor(
    rt: Runtime,
    project_id: str,
    cmd: AssignSponsor,
    principal: Principal,
    ctx: Context,
    *,
    if_match: int | None,
    key: str | None,
) -> Outcome:
    async with rt.pool.acquire() as conn:
        role = await conn.fetchval(f"SELECT role FROM {rt.schema}.organisations WHERE id = $1", cmd.sponsor_leader_id)
    if role != "leader":
        raise field_error("sponsor_leader_id", "no such leader (organisation with role leader)")

    def decide(state: domain.ProjectState | None) -> SponsorAssigned:
        domain.must_exist(state)
        return SponsorAssigned(sponsor_leader_id=cmd.sponsor_leader_id)

    return await _project_command(rt, project_id, decide, principal, ctx, if_match=if_match, key=key, scope="sponsor")


async def change_phase(
    rt: Runtime,
    project_id: str,
    cmd: ChangePhase,
    principal: Principal,
    ctx: Context,
    *,
    if_match: int | None,
    key: str | None,
) -> Outcome:
    return await _project_command(
        rt,
        project_id,
        lambda s: domain.decide_phase(s, cmd.phase, cmd.reason),
        principal,
        ctx,
        if_match=if_match,
        key=key,
        scope="phase",
    )


async def report_progress(
    rt: Runtime,
    project_id: str,
    cmd: ReportProgress,
    principal: Principal,
    ctx: Context,
    *,
    if_match: int | None,
    key: str | None,
) -> Outcome:
    report_id = "r" + (_event_id(principal, key, f"report-id:{project_id}") or uuid.uuid4()).hex[:20]
    return await _project_command(
        rt,
        project_id,
        lambda s: domain.decide_progress(s, report_id=report_id, **dict(cmd)),
        principal,
        ctx,
        if_match=if_match,
        key=key,
        scope="progress",
    )
