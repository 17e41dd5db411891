"""Change requests (变更申请): a unit (or hq on its behalf) files, hq decides; and the refusal a unit gets when it
tries to move its project's baseline directly. What an approval changes is applied by reactions (reactions.py here,
and scheduling's for a milestone), see domain_change_requests.py and docs/adr/0014-change-requests.md."""

from __future__ import annotations

from services.intake import domain, policies
from services.intake.commands_change_requests import DecideChangeRequest, FileChangeRequest
from services.intake.domain_change_requests import (
    PENDING,
    change_request_id,
    decide_change_request,
    decide_file,
    must_exist,
)
from services.intake.progress_handlers import PlanMilestones, plan_milestones_finding
from services.intake.queries_change_requests import filed_count
from services.intake.read_model import CHANGE_REQUESTS, PROJECTS
from shared.attachment_refs import Evidence
from shared.catalogue.intake import ChangeRequestKind, Phase
from shared.commands import CommandMeta, Outcome, already_applied, handle, load
from shared.domain_errors import invalid
from shared.envelope import Role
from shared.runtime import Runtime

# What a unit may only change through a change request, and what the refusal calls it.
BASELINE_FIELDS = {
    "planned_start": "修改计划开工日期", "planned_completion": "修改计划竣工日期", "total_investment": "修改总投资",
    "annual_planned_investment": "修改年度计划投资",
}  # fmt: skip
PHASES_BY_REQUEST = {Phase.CANCELLED: "取消项目", Phase.SUSPENDED: "暂停项目"}


async def refuse_unit_baseline_change(rt: Runtime, meta: CommandMeta, project_id: str, what: str, field: str) -> None:
    """403 pointing to the change request when a unit tries to move its project's baseline itself (after the 404 of
    a project that does not exist and the 403 of another unit's project, as every write answers them)."""
    if meta.principal.role != Role.UNIT:
        return
    project = domain.must_exist((await load(rt.pool, rt.store, rt.schema, PROJECTS, project_id)).state)
    policies.can_write_project(meta.principal, project)
    policies.refuse_direct_baseline_change(meta.principal, project_id, what, field)


async def file_change_request(rt: Runtime, cmd: FileChangeRequest, meta: CommandMeta) -> Outcome:
    """File into the first free slot of the request's kind for the project (domain_change_requests.py): a pending
    request of the same kind is found there instead, and the filing is refused with 409 naming it."""
    project = domain.must_exist((await load(rt.pool, rt.store, rt.schema, PROJECTS, cmd.project_id)).state)
    policies.can_write_project(meta.principal, project)  # hq on the unit's behalf, or the project's own unit
    evidence = Evidence(rt.store, "evidence", cmd.evidence)
    await evidence.resolve(cmd.project_id)  # uploads of this project (422 naming evidence.<i> otherwise)
    if cmd.kind == ChangeRequestKind.REBASELINE_MILESTONE:
        await _plan_has_milestone(rt, cmd)
    scope = f"change_request:{cmd.project_id}:{cmd.kind.value}"
    own = meta.event_id(scope)
    if own is None or await already_applied(rt.pool, rt.schema, own) is None:
        decide_file(None, cmd, project)  # refuse a request that cannot be filed before looking for its slot
    # The last slot the read model shows may hold the pending request itself: the search starts there, not after it.
    slot = max(1, await filed_count(rt.pool, rt.schema, cmd.project_id, cmd.kind))
    while True:
        request_id = change_request_id(cmd.project_id, cmd.kind, slot)
        found = (await load(rt.pool, rt.store, rt.schema, CHANGE_REQUESTS, request_id)).state
        if found is None or found.status == PENDING or (own is not None and found.filed_event_id == str(own)):
            break
        slot += 1
    return await handle(
        rt, CHANGE_REQUESTS, request_id, lambda s: decide_file(s, cmd, project, evidence.refs), meta, scope=scope
    )  # fmt: skip


async def _plan_has_milestone(rt: Runtime, cmd: FileChangeRequest) -> None:
    """A re-baseline names a milestone of one of the project's plans (intake knows them from scheduling's plan events,
    docs/adr/0015): a wrong id is refused at filing, not left for an approval scheduling could not apply."""

    def named(known: PlanMilestones) -> bool:
        return any(m.plan_id == cmd.plan_id for m in known.get(cmd.milestone_id or "", []))

    if not named(await plan_milestones_finding(rt, cmd.project_id, named)):
        raise invalid("milestone_id", f"项目的实施方案 {cmd.plan_id} 没有节点 {cmd.milestone_id}")


async def decide(rt: Runtime, cmd: DecideChangeRequest, meta: CommandMeta) -> Outcome:
    policies.can_decide_change_request(meta.principal)
    request = must_exist((await load(rt.pool, rt.store, rt.schema, CHANGE_REQUESTS, cmd.change_request_id)).state)
    project = domain.must_exist((await load(rt.pool, rt.store, rt.schema, PROJECTS, request.project_id)).state)
    return await handle(
        rt, CHANGE_REQUESTS, cmd.change_request_id, lambda s: decide_change_request(s, cmd, project), meta,
        scope=f"change_request_decision:{cmd.change_request_id}",
    )  # fmt: skip
