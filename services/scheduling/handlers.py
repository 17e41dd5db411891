"""scheduling's use cases: load -> decide -> append."""

from __future__ import annotations

import uuid
from datetime import date

from services.scheduling import domain
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
from services.scheduling.evaluation import RULE_SET_ID
from services.scheduling.policies import can_run_meeting, can_write_plan
from services.scheduling.queries import build_agenda
from services.scheduling.read_model import MEETINGS, PLANS, RULE_SET
from shared.auth import Principal
from shared.catalogue.scheduling import (
    DispatchMeetingScheduled,
    ExemptionRequested,
    MeetingAttendanceRecorded,
    MeetingDecisionRecorded,
    MeetingMinutesRecorded,
    PlanDrafted,
    PlanRevised,
    Rules,
)
from shared.commands import Outcome, execute, idempotent_event_id, load
from shared.eventstore import ConcurrencyConflict, Context
from shared.problems import Problem, field_error
from shared.runtime import Runtime


def _event_id(principal: Principal, key: str | None, scope: str) -> uuid.UUID | None:
    return idempotent_event_id(principal.org_id, key, scope) if key else None


def _new_id(prefix: str, principal: Principal, key: str | None, scope: str) -> str:
    source = idempotent_event_id(principal.org_id, key, scope + ":id") if key else uuid.uuid4()
    return prefix + source.hex[:16]


async def _project_unit(rt: Runtime, project_id: str) -> str:
    async with rt.pool.acquire() as conn:
        unit = await conn.fetchval(f"SELECT unit_id FROM {rt.schema}.projects WHERE id = $1", project_id)
    if unit is None:
        raise field_error("project_id", "no such project (or not yet known to scheduling; retry with min_seq)")
    return str(unit)


async def _plan_command(
    rt: Runtime,
    plan_id: str,
    decide: domain.Decide,
    principal: Principal,
    ctx: Context,
    *,
    if_match: int | None,
    key: str | None,
    scope: str,
    hq_only: bool = False,
) -> Outcome:
    async def authorize(state: domain.PlanState | None) -> None:
        plan = domain.must_exist(state)
        if hq_only and principal.role.value != "hq":
            raise Problem(403, "只有指挥部办公室可以审批")
        can_write_plan(principal, await _project_unit(rt, plan.project_id))

    return await execute(
        pool=rt.pool, store=rt.store, schema=rt.schema, spec=PLANS, aggregate_id=plan_id, decide=decide,
        context=ctx, if_match=if_match, event_id=_event_id(principal, key, f"{scope}:{plan_id}"), authorize=authorize,
    )  # fmt: skip


async def draft_plan(rt: Runtime, cmd: DraftPlan, principal: Principal, ctx: Context, key: str | None) -> Outcome:
    can_write_plan(principal, await _project_unit(rt, cmd.project_id))
    event = PlanDrafted(**dict(cmd))
    return await execute(
        pool=rt.pool, store=rt.store, schema=rt.schema, spec=PLANS,
        aggregate_id=domain.plan_id_for(cmd.project_id, cmd.year),
        decide=lambda s: domain.decide_draft(s, event), context=ctx,
        event_id=_event_id(principal, key, f"draft:{cmd.project_id}:{cmd.year}"),
    )  # fmt: skip


async def revise_plan(
    rt: Runtime,
    plan_id: str,
    cmd: ReviseDraft,
    principal: Principal,
    ctx: Context,
    *,
    if_match: int | None,
    key: str | None,
) -> Outcome:
    event = PlanRevised(**dict(cmd))
    return await _plan_command(
        rt, plan_id, lambda s: domain.decide_revise(s, event), principal, ctx, if_match=if_match, key=key,
        scope="revise",
    )  # fmt: skip


async def approve_baseline(
    rt: Runtime,
    plan_id: str,
    cmd: ApproveBaseline,
    principal: Principal,
    ctx: Context,
    *,
    if_match: int | None,
    key: str | None,
) -> Outcome:
    return await _plan_command(
        rt, plan_id, lambda s: domain.decide_baseline(s, cmd.note), principal, ctx, if_match=if_match, key=key,
        scope="baseline", hq_only=True,
    )  # fmt: skip


async def rebaseline(
    rt: Runtime,
    plan_id: str,
    milestone_id: str,
    cmd: Rebaseline,
    principal: Principal,
    ctx: Context,
    *,
    if_match: int | None,
    key: str | None,
) -> Outcome:
    return await _plan_command(
        rt, plan_id, lambda s: domain.decide_rebaseline(s, milestone_id, cmd.to_date, cmd.reason), principal, ctx,
        if_match=if_match, key=key, scope=f"rebaseline:{milestone_id}",
    )  # fmt: skip


async def complete_milestone(
    rt: Runtime,
    plan_id: str,
    milestone_id: str,
    cmd: CompleteMilestone,
    principal: Principal,
    ctx: Context,
    *,
    today: date,
    if_match: int | None,
    key: str | None,
) -> Outcome:
    return await _plan_command(
        rt, plan_id, lambda s: domain.decide_complete(s, milestone_id, cmd.done_on, today), principal, ctx,
        if_match=if_match, key=key, scope=f"complete:{milestone_id}",
    )  # fmt: skip


async def request_exemption(
    rt: Runtime, plan_id: str, cmd: RequestExemption, principal: Principal, ctx: Context, *, key: str | None
) -> tuple[Outcome, str]:
    exemption_id = _new_id("e", principal, key, f"exemption:{plan_id}")
    event = ExemptionRequested(exemption_id=exemption_id, **dict(cmd))
    outcome = await _plan_command(
        rt, plan_id, lambda s: domain.decide_request_exemption(s, event), principal, ctx, if_match=None, key=key,
        scope="exemption",
    )  # fmt: skip
    return outcome, exemption_id


async def decide_exemption(
    rt: Runtime,
    plan_id: str,
    exemption_id: str,
    approve: bool,
    cmd: DecideExemption,
    principal: Principal,
    ctx: Context,
    *,
    key: str | None,
) -> Outcome:
    return await _plan_command(
        rt, plan_id, lambda s: domain.decide_exemption(s, exemption_id, approve, cmd.note), principal, ctx,
        if_match=None, key=key, scope=f"exemption-decision:{exemption_id}", hq_only=True,
    )  # fmt: skip


async def publish_rules(rt: Runtime, cmd: PublishRules, principal: Principal, ctx: Context, key: str | None) -> Outcome:
    return await execute(
        pool=rt.pool, store=rt.store, schema=rt.schema, spec=RULE_SET, aggregate_id=RULE_SET_ID,
        decide=lambda s: domain.decide_publish_rules(s, cmd.effective_from, cmd.rules, cmd.note), context=ctx,
        event_id=_event_id(principal, key, "rules"),
    )  # fmt: skip


DEFAULT_RULES_EVENT_ID = uuid.UUID("9f1c2d3e-4b5a-4c6d-8e7f-0a1b2c3d4e5f")


async def ensure_default_rules(rt: Runtime, ctx: Context) -> None:
    """Publish rule version 1 (the defaults) once; every replica may try, one wins, the rest see it done."""
    loaded = await load(rt.pool, rt.store, rt.schema, RULE_SET, RULE_SET_ID)
    if loaded.state is not None and loaded.state.versions:
        return
    first = domain.decide_publish_rules(None, date(2000, 1, 1), Rules(), "默认规则(序时进度落后 10/30 个百分点)")
    try:
        await rt.store.append(
            "rule_set", RULE_SET_ID, first, expected=loaded.position, context=ctx, event_id=DEFAULT_RULES_EVENT_ID
        )
    except ConcurrencyConflict:
        return  # another replica published it first


async def schedule_meeting(
    rt: Runtime, cmd: ScheduleMeeting, principal: Principal, ctx: Context, *, today: date, key: str | None
) -> Outcome:
    can_run_meeting(principal, cmd.unit_id)
    meeting_id = _new_id("m", principal, key, "meeting")
    async with rt.pool.acquire() as conn:
        if not await conn.fetchval(f"SELECT 1 FROM {rt.schema}.programmes WHERE id = $1", cmd.programme_id):
            raise field_error("programme_id", "no such programme")
        agenda = await build_agenda(conn, rt.schema, programme_id=cmd.programme_id, unit_id=cmd.unit_id, as_of=today)

    def decide(state: domain.MeetingState | None) -> DispatchMeetingScheduled:
        if state is not None:
            raise Problem(409, "调度会已存在")
        return DispatchMeetingScheduled(**dict(cmd), agenda=agenda, agenda_as_of=today)

    return await execute(
        pool=rt.pool, store=rt.store, schema=rt.schema, spec=MEETINGS, aggregate_id=meeting_id, decide=decide,
        context=ctx, event_id=_event_id(principal, key, "meeting"),
    )  # fmt: skip


async def _meeting_command(
    rt: Runtime,
    meeting_id: str,
    payload: MeetingAttendanceRecorded | MeetingMinutesRecorded | MeetingDecisionRecorded,
    principal: Principal,
    ctx: Context,
    *,
    key: str | None,
    scope: str,
) -> Outcome:
    def authorize(state: domain.MeetingState | None) -> None:
        can_run_meeting(principal, domain.meeting_must_exist(state).unit_id)

    return await execute(
        pool=rt.pool, store=rt.store, schema=rt.schema, spec=MEETINGS, aggregate_id=meeting_id,
        decide=lambda s: (domain.meeting_must_exist(s), payload)[1], context=ctx,
        event_id=_event_id(principal, key, f"{scope}:{meeting_id}"), authorize=authorize,
    )  # fmt: skip


async def record_attendance(
    rt: Runtime, meeting_id: str, cmd: RecordAttendance, principal: Principal, ctx: Context, *, key: str | None
) -> Outcome:
    payload = MeetingAttendanceRecorded(attendees=cmd.attendees)
    return await _meeting_command(rt, meeting_id, payload, principal, ctx, key=key, scope="attendance")


async def record_minutes(
    rt: Runtime, meeting_id: str, cmd: RecordMinutes, principal: Principal, ctx: Context, *, key: str | None
) -> Outcome:
    payload = MeetingMinutesRecorded(minutes=cmd.minutes)
    return await _meeting_command(rt, meeting_id, payload, principal, ctx, key=key, scope="minutes")


async def record_decision(
    rt: Runtime, meeting_id: str, cmd: RecordDecision, principal: Principal, ctx: Context, *, key: str | None
) -> tuple[Outcome, str]:
    async with rt.pool.acquire() as conn:
        role = await conn.fetchval(f"SELECT role FROM {rt.schema}.organisations WHERE id = $1", cmd.owner_unit_id)
    if role != "unit":
        raise field_error("owner_unit_id", "no such responsible unit")
    decision_id = _new_id("d", principal, key, f"decision:{meeting_id}")
    payload = MeetingDecisionRecorded(decision_id=decision_id, **dict(cmd))
    outcome = await _meeting_command(rt, meeting_id, payload, principal, ctx, key=key, scope="decision")
    return outcome, decision_id
