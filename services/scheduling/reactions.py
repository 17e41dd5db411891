"""scheduling's reactions (shared.reactions): events that cause scheduling commands.

`change_requests`: a change request (变更申请) hq approved that moves a milestone re-baselines it (MilestoneRebaselined
carrying the request's id), under an event id derived from the approval's: exactly once, also on redelivery.

`light_reevaluation`: a progress report, a phase change, a change of a project's details or of its plan, or a step
of one of its issues (issue_coordination's events: raised, assigned, escalated, resolved, ...) or of a 督办 order on
it (issued, plan submitted or reviewed, closed) re-evaluates that
project's light as of the platform's today, within seconds, instead of waiting for the 06:00 run.
The light is recorded only when it differs from the one on record, under an event id derived from the source event.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import asyncpg

from services.scheduling import queries_plans
from services.scheduling.domain_change_requests import decide_approved_rebaseline
from services.scheduling.monitoring import reevaluate_light
from services.scheduling.read_model import PLANS
from services.scheduling.read_model_issues import project_of_issue
from services.scheduling.read_model_supervision import project_of_order
from shared.catalogue.intake import ChangeRequestApproved, ChangeRequestKind
from shared.clock import today
from shared.commands import execute
from shared.domain_errors import NotFound
from shared.reactions import Cause, Handler, Reaction
from shared.runtime import Runtime
from shared.verification import payload_as

LIGHT_REEVALUATION = "light_reevaluation"
# The project of an issue or an order as scheduling's read model has it (connection, schema, the aggregate's id).
ProjectOf = Callable[[asyncpg.Connection, str, str], Awaitable[str | None]]
CHANGE_REQUESTS = "change_requests"
CATCH_UP_S = 10.0  # how long to wait for scheduling's read model to apply the event before retrying the batch


async def _caught_up(rt: Runtime, cause: Cause) -> None:
    """The evaluation reads scheduling's read model: it must have applied the event first."""
    if not await rt.runner.wait_for(cause.event.seq, CATCH_UP_S):
        raise TimeoutError(f"scheduling's read model has not reached seq {cause.event.seq}")


async def _reevaluate(rt: Runtime, cause: Cause, project_id: str) -> None:
    try:
        await reevaluate_light(rt, project_id, today(rt.clock), cause.context, cause.event_id())
    except NotFound:
        pass  # a project scheduling does not know (its registration was parked): nothing to light


async def project_changed(rt: Runtime, cause: Cause) -> None:
    await _caught_up(rt, cause)
    await _reevaluate(rt, cause, cause.event.envelope.aggregate_id)


async def plan_changed(rt: Runtime, cause: Cause) -> None:
    await _caught_up(rt, cause)
    async with rt.pool.acquire() as conn:
        plan = await queries_plans.get_plan(conn, rt.schema, cause.event.envelope.aggregate_id)
    if plan is not None:
        await _reevaluate(rt, cause, plan["project_id"])


def _light_of_its_project(project_of: ProjectOf) -> Handler:
    """A step of an issue or a 督办 order (`project_of` finds its project in the read model): the light of its project
    (a tracked decision without a project, or an order on one, lights nothing)."""

    async def changed(rt: Runtime, cause: Cause) -> None:
        await _caught_up(rt, cause)
        async with rt.pool.acquire() as conn:
            project_id = await project_of(conn, rt.schema, cause.event.envelope.aggregate_id)
        if project_id is not None:
            await _reevaluate(rt, cause, project_id)

    return changed


issue_changed = _light_of_its_project(project_of_issue)
order_changed = _light_of_its_project(project_of_order)


# Every step that opens, closes or moves an issue up the ladder (notes and requests change no light).
ISSUE_EVENTS = (
    "IssueRaised", "MeetingDecisionTracked", "IssueAssigned", "IssueReassigned", "IssueAccepted", "IssueResolved",
    "ResolutionRejected", "ResolutionConfirmed", "IssueWithdrawn", "IssueEscalated",
)  # fmt: skip
# Every step of a 督办 order that changes what its light says (status, open or closed; a reminder changes nothing).
ORDER_EVENTS = ("SupervisionOrderIssued", "RectificationPlanSubmitted", "RectificationPlanReviewed",
                "SupervisionOrderClosed")  # fmt: skip
PROJECT_EVENTS = ("ProjectRegistered", "ProjectDetailsAmended", "ProjectPhaseChanged", "ProgressReported")
PLAN_EVENTS = (
    "PlanDrafted", "PlanRevised", "PlanBaselineApproved", "MilestoneRebaselined", "MilestoneCompleted",
    "ExemptionApproved",
)  # fmt: skip


def light_reevaluation() -> Reaction:
    handlers: dict[str, Handler] = {name: project_changed for name in PROJECT_EVENTS}
    handlers |= {name: plan_changed for name in PLAN_EVENTS}
    handlers |= {name: issue_changed for name in ISSUE_EVENTS}
    handlers |= {name: order_changed for name in ORDER_EVENTS}
    # About the present: a new deployment does not re-light the past, the daily run covers what is there.
    return Reaction(LIGHT_REEVALUATION, handlers, start="now")


async def rebaseline_approved(rt: Runtime, cause: Cause) -> None:
    approved = payload_as(cause.event, ChangeRequestApproved)
    if approved.kind != ChangeRequestKind.REBASELINE_MILESTONE or approved.plan_id is None:
        return  # the project's own changes are intake's to apply
    request_id = cause.event.envelope.aggregate_id
    # The plan as the log has it (its row plus the events after it), not as the read model may lag.
    await execute(
        pool=rt.pool, store=rt.store, schema=rt.schema, spec=PLANS, aggregate_id=approved.plan_id,
        decide=lambda plan: decide_approved_rebaseline(plan, approved, request_id), context=cause.context,
        event_id=cause.event_id(), cache=rt.cache,
    )  # fmt: skip


def change_requests() -> Reaction:
    # From the beginning: every approval in the log must have moved its milestone, also one from before a deployment.
    return Reaction(CHANGE_REQUESTS, {"ChangeRequestApproved": rebaseline_approved}, start="beginning")
