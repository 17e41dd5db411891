"""Reaction `milestone_completion`: a milestone a progress report (or a correction) says was reached becomes the
plan's own MilestoneCompleted (source progress_report, with the report's id), so that the plan, the lights and the
ledger's 下一节点 read it from the plan, never by matching names in the reports.

Exactly once: the event id is derived from (source event, reaction, milestone id), and the decision finds nothing
to do for a milestone already done; a redelivery, a restart or a second replica appends nothing twice. It handles
the whole log on first start, so reports recorded before this reaction existed complete their milestones too (those
name a milestone only by its name: it is looked up in the plan of the year it was reached in).
"""

from __future__ import annotations

from datetime import date

from services.scheduling import queries
from services.scheduling.domain import decide_complete_from_report
from services.scheduling.read_model import PLANS
from shared.catalogue import CATALOGUE
from shared.catalogue.intake import MilestoneDone, ProgressReportCorrected, ProgressReported
from shared.commands import execute
from shared.reactions import Cause, Reaction
from shared.runtime import Runtime

MILESTONE_COMPLETION = "milestone_completion"
CATCH_UP_S = 10.0  # how long to wait for scheduling's read model to have the plan, before retrying the batch


async def milestones_reported(rt: Runtime, cause: Cause) -> None:
    payload = CATALOGUE.payload_of(cause.event)
    if not isinstance(payload, ProgressReported | ProgressReportCorrected):
        raise TypeError(f"{cause.event.envelope.type} is not a progress report")
    project_id = cause.event.envelope.aggregate_id
    for m in payload.milestones_done:
        target = await _target(rt, cause, project_id, m)
        if target is not None:
            await _complete(rt, cause, *target, m.done_on, payload.report_id)


async def _target(rt: Runtime, cause: Cause, project_id: str, m: MilestoneDone) -> tuple[str, str] | None:
    """(plan id, milestone id) of a reported milestone: as intake recorded it, or for a report written before
    milestone ids, the milestone of that name in the project's plan of the year it was reached in."""
    if m.plan_id is not None and m.milestone_id is not None:
        return m.plan_id, m.milestone_id
    if not await rt.runner.wait_for(cause.event.seq, CATCH_UP_S):
        raise TimeoutError(f"scheduling's read model has not reached seq {cause.event.seq}")
    async with rt.pool.acquire() as conn:
        plan = (await queries.plans_of_year(conn, rt.schema, m.done_on.year, [project_id])).get(project_id)
    found = None if plan is None else next((x for x in plan.milestones if x.name == m.name), None)
    return None if plan is None or found is None else (plan.id, found.milestone_id)


async def _complete(rt: Runtime, cause: Cause, plan_id: str, milestone_id: str, done_on: date, report_id: str) -> None:
    await execute(
        pool=rt.pool, store=rt.store, schema=rt.schema, spec=PLANS, aggregate_id=plan_id,
        decide=lambda state: decide_complete_from_report(state, milestone_id, done_on, report_id),
        context=cause.context, event_id=cause.event_id(milestone_id), cache=rt.cache,
    )  # fmt: skip


def milestone_completion() -> Reaction:
    handlers = {"ProgressReported": milestones_reported, "ProgressReportCorrected": milestones_reported}
    return Reaction(MILESTONE_COMPLETION, handlers, start="beginning")
