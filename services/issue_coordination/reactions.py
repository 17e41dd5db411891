"""issue_coordination's reactions (shared.reactions): events of other services that cause commands here.

`meeting_decisions`: each decision (议定事项) scheduling records for a dispatch meeting becomes exactly one tracked
item, an issue assigned at once to the decision's owner and due at the end of its deadline day (China time). The
item's id is derived from (meeting, decision) and the event's id from the source event: a redelivery, a restart or
a second replica appends nothing twice (the second finds the item there and decides there is nothing to do). A
decision about no project is tracked for its owner alone. It handles the whole log on first start, so decisions
recorded before this service ran are tracked too.
"""

from __future__ import annotations

from datetime import date, datetime, time

from services.issue_coordination.deadlines import calendar_version_in_force
from services.issue_coordination.domain import decision_item_id
from services.issue_coordination.domain_lifecycle import decide_track_decision
from services.issue_coordination.read_model import ISSUES
from services.issue_coordination.read_model_rules import rule_data
from shared.catalogue.issue_coordination import MeetingDecisionTracked
from shared.catalogue.scheduling import MeetingDecisionRecorded
from shared.clock import CHINA
from shared.commands import execute
from shared.project_directory import project_entry
from shared.reactions import Cause, Reaction
from shared.runtime import Runtime
from shared.verification import payload_as

MEETING_DECISIONS = "meeting_decisions"
CATCH_UP_S = 10.0  # how long to wait for the project directory to have applied the event, before retrying the batch


def end_of_day(day: date) -> datetime:
    """A deadline given as a day is due by the end of that day in China."""
    return datetime.combine(day, time(23, 59, 59), CHINA)


async def _programme_of(rt: Runtime, cause: Cause, project_id: str | None) -> str | None:
    if project_id is None:
        return None
    if not await rt.runner.wait_for(cause.event.seq, CATCH_UP_S):
        raise TimeoutError(f"issue_coordination's read model has not reached seq {cause.event.seq}")
    async with rt.pool.acquire() as conn:
        entry = await project_entry(conn, rt.schema, project_id)
    return None if entry is None else entry.programme_id


async def _calendar_version(rt: Runtime, cause: Cause) -> int | None:
    """The calendar version in force on the day the meeting decided (the same for every replica and replay)."""
    calendars = (await rule_data(rt.pool, rt.store, rt.schema)).calendars
    return calendar_version_in_force(calendars, cause.event.envelope.recorded_at)


async def decision_recorded(rt: Runtime, cause: Cause) -> None:
    decision = payload_as(cause.event, MeetingDecisionRecorded)
    meeting_id = cause.event.envelope.aggregate_id
    tracked = MeetingDecisionTracked(
        meeting_id=meeting_id, decision_id=decision.decision_id, text=decision.text,
        owner_unit_id=decision.owner_unit_id, deadline_day=decision.deadline, deadline=end_of_day(decision.deadline),
        project_id=decision.project_id, programme_id=await _programme_of(rt, cause, decision.project_id),
        decided_by=cause.event.envelope.actor.org_id, calendar_version=await _calendar_version(rt, cause),
    )  # fmt: skip
    await execute(
        pool=rt.pool, store=rt.store, schema=rt.schema, spec=ISSUES,
        aggregate_id=decision_item_id(meeting_id, decision.decision_id),
        decide=lambda state: decide_track_decision(state, tracked), context=cause.context,
        event_id=cause.event_id(), cache=rt.cache,
    )  # fmt: skip


def meeting_decisions() -> Reaction:
    return Reaction(MEETING_DECISIONS, {"MeetingDecisionRecorded": decision_recorded}, start="beginning")
