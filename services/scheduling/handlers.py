"""scheduling's use cases: authorise, query what needs a query, then load -> decide -> append through `handle`.

Each handler takes the whole command and one `CommandMeta`; the decisions are in the domain modules.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from datetime import date

from services.scheduling import domain, domain_rules, queries, queries_agenda
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
    ScheduleMeeting,
)
from services.scheduling.domain_meetings import (
    MeetingState,
    decide_attendance,
    decide_decision,
    decide_minutes,
    decide_schedule,
    meeting_must_exist,
)
from services.scheduling.evaluation import RULE_SET_ID
from services.scheduling.policies import (
    can_run_meeting,
    can_write_plan,
    known_project,
    must_be_hq,
    must_request_rebaseline,
)
from services.scheduling.read_model import MEETINGS, PLANS, RULE_SET
from shared.attachment_refs import Evidence
from shared.auth import Principal
from shared.commands import CommandMeta, Outcome, execute, handle
from shared.domain_errors import invalid
from shared.envelope import Role
from shared.eventstore import Context
from shared.project_directory import ProjectEntry, project_entry
from shared.runtime import Runtime

DEFAULT_RULES_EVENT_ID = uuid.UUID("9f1c2d3e-4b5a-4c6d-8e7f-0a1b2c3d4e5f")


async def _project(rt: Runtime, project_id: str) -> ProjectEntry:
    async with rt.pool.acquire() as conn:
        return known_project(await project_entry(conn, rt.schema, project_id))


def _plan_writer(
    rt: Runtime, principal: Principal, *, hq_only: bool = False
) -> Callable[[domain.PlanState | None], Awaitable[None]]:
    """hq, or the unit responsible for the plan's project (only hq when `hq_only`)."""

    async def authorize(state: domain.PlanState | None) -> None:
        plan = domain.must_exist(state)
        if hq_only:
            must_be_hq(principal)
        can_write_plan(principal, await _project(rt, plan.project_id))

    return authorize


# -- plans ------------------------------------------------------------------------------------------------------


async def draft_plan(rt: Runtime, cmd: DraftPlan, meta: CommandMeta) -> Outcome:
    can_write_plan(meta.principal, await _project(rt, cmd.project_id))
    return await handle(
        rt, PLANS, domain.plan_id_for(cmd.project_id, cmd.year), lambda s: domain.decide_draft(s, cmd), meta,
        scope=f"draft:{cmd.project_id}:{cmd.year}",
    )  # fmt: skip


async def revise_plan(rt: Runtime, cmd: ReviseDraft, meta: CommandMeta) -> Outcome:
    return await handle(
        rt, PLANS, cmd.plan_id, lambda s: domain.decide_revise(s, cmd), meta, scope=f"revise:{cmd.plan_id}",
        authorize=_plan_writer(rt, meta.principal),
    )  # fmt: skip


async def approve_baseline(rt: Runtime, cmd: ApproveBaseline, meta: CommandMeta) -> Outcome:
    return await handle(
        rt, PLANS, cmd.plan_id, lambda s: domain.decide_baseline(s, cmd), meta, scope=f"baseline:{cmd.plan_id}",
        authorize=_plan_writer(rt, meta.principal, hq_only=True),
    )  # fmt: skip


async def rebaseline(rt: Runtime, cmd: Rebaseline, meta: CommandMeta) -> Outcome:
    writer = _plan_writer(rt, meta.principal)

    async def authorize(state: domain.PlanState | None) -> None:
        await writer(state)  # 404 for no plan, 403 for another unit's
        must_request_rebaseline(meta.principal, await _project(rt, domain.must_exist(state).project_id))

    return await handle(
        rt, PLANS, cmd.plan_id, lambda s: domain.decide_rebaseline(s, cmd), meta,
        scope=f"rebaseline:{cmd.milestone_id}:{cmd.plan_id}", authorize=authorize,
    )  # fmt: skip


async def complete_milestone(rt: Runtime, cmd: CompleteMilestone, meta: CommandMeta, *, today: date) -> Outcome:
    return await handle(
        rt, PLANS, cmd.plan_id, lambda s: domain.decide_complete(s, cmd, today), meta,
        scope=f"complete:{cmd.milestone_id}:{cmd.plan_id}", authorize=_plan_writer(rt, meta.principal),
    )  # fmt: skip


async def request_exemption(rt: Runtime, cmd: RequestExemption, meta: CommandMeta) -> tuple[Outcome, str]:
    """Returns the outcome and the new exemption's id."""
    exemption_id = meta.new_id("e", f"exemption:{cmd.plan_id}")
    evidence = Evidence(rt.store, "attachments", cmd.attachments)
    writer = _plan_writer(rt, meta.principal)

    async def authorize(state: domain.PlanState | None) -> None:
        await writer(state)
        await evidence.resolve(domain.must_exist(state).project_id)  # uploaded to the plan's project

    outcome = await handle(
        rt, PLANS, cmd.plan_id, lambda s: domain.decide_request_exemption(s, cmd, exemption_id, evidence.refs), meta,
        scope=f"exemption:{cmd.plan_id}", authorize=authorize,
    )  # fmt: skip
    return outcome, exemption_id


async def decide_exemption(rt: Runtime, cmd: DecideExemption, meta: CommandMeta) -> Outcome:
    return await handle(
        rt, PLANS, cmd.plan_id, lambda s: domain.decide_exemption(s, cmd), meta,
        scope=f"exemption-decision:{cmd.exemption_id}:{cmd.plan_id}",
        authorize=_plan_writer(rt, meta.principal, hq_only=True),
    )  # fmt: skip


# -- rules ------------------------------------------------------------------------------------------------------


async def publish_rules(rt: Runtime, cmd: PublishRules, meta: CommandMeta) -> Outcome:
    return await handle(
        rt, RULE_SET, RULE_SET_ID, lambda s: domain_rules.decide_publish_rules(s, cmd), meta, scope="rules",
        authorize=lambda _: must_be_hq(meta.principal),
    )  # fmt: skip


async def ensure_default_rules(rt: Runtime, ctx: Context) -> Outcome:
    """Publish rule version 1 (the defaults) once; every replica may try, one appends, the rest find it done."""
    return await execute(
        pool=rt.pool, store=rt.store, schema=rt.schema, spec=RULE_SET, aggregate_id=RULE_SET_ID,
        decide=domain_rules.decide_default_rules, context=ctx, event_id=DEFAULT_RULES_EVENT_ID,
    )  # fmt: skip


# -- dispatch meetings ------------------------------------------------------------------------------------------


def _meeting_runner(principal: Principal) -> Callable[[MeetingState | None], None]:
    def authorize(state: MeetingState | None) -> None:
        meeting = meeting_must_exist(state)
        can_run_meeting(principal, meeting.unit_id, meeting.chair_id)

    return authorize


# Who may chair: a city leader (包保市领导), hq, or, for a unit's weekly meeting, the unit itself.
CHAIR_ROLES = {"leader", "hq"}


async def schedule_meeting(rt: Runtime, cmd: ScheduleMeeting, meta: CommandMeta, *, today: date) -> Outcome:
    can_run_meeting(meta.principal, cmd.unit_id, cmd.chair_id)
    # A leader's meeting is about the projects it sponsors: its agenda holds only those.
    sponsor = meta.principal.org_id if meta.principal.role == Role.LEADER else None
    async with rt.pool.acquire() as conn:
        if not await queries.programme_exists(conn, rt.schema, cmd.programme_id):
            raise invalid("programme_id", "年度重点项目批次不存在")
        if cmd.chair_id is not None and cmd.chair_id != cmd.unit_id:
            if await queries.organisation_role(conn, rt.schema, cmd.chair_id) not in CHAIR_ROLES:
                raise invalid("chair_id", "主持人须为市领导、指挥部办公室或召开周调度会的本单位")
        agenda = await queries_agenda.build_agenda(
            conn, rt.schema, programme_id=cmd.programme_id, unit_id=cmd.unit_id, sponsor_id=sponsor, as_of=today
        )
    return await handle(
        rt, MEETINGS, meta.new_id("m", "meeting"), lambda s: decide_schedule(s, cmd, agenda, today), meta,
        scope="meeting",
    )  # fmt: skip


async def record_attendance(rt: Runtime, cmd: RecordAttendance, meta: CommandMeta) -> Outcome:
    return await handle(
        rt, MEETINGS, cmd.meeting_id, lambda s: decide_attendance(s, cmd), meta,
        scope=f"attendance:{cmd.meeting_id}", authorize=_meeting_runner(meta.principal),
    )  # fmt: skip


async def record_minutes(rt: Runtime, cmd: RecordMinutes, meta: CommandMeta) -> Outcome:
    return await handle(
        rt, MEETINGS, cmd.meeting_id, lambda s: decide_minutes(s, cmd), meta, scope=f"minutes:{cmd.meeting_id}",
        authorize=_meeting_runner(meta.principal),
    )  # fmt: skip


async def record_decision(rt: Runtime, cmd: RecordDecision, meta: CommandMeta) -> tuple[Outcome, str]:
    """Returns the outcome and the new decision's id."""
    project_unit: str | None = None
    async with rt.pool.acquire() as conn:
        if await queries.organisation_role(conn, rt.schema, cmd.owner_unit_id) != "unit":
            raise invalid("owner_unit_id", "责任单位不存在")
        if cmd.project_id is not None:
            project_unit = known_project(await project_entry(conn, rt.schema, cmd.project_id)).unit_id
    decision_id = meta.new_id("d", f"decision:{cmd.meeting_id}")
    outcome = await handle(
        rt, MEETINGS, cmd.meeting_id, lambda s: decide_decision(s, cmd, decision_id, project_unit), meta,
        scope=f"decision:{cmd.meeting_id}", authorize=_meeting_runner(meta.principal),
    )  # fmt: skip
    return outcome, decision_id
