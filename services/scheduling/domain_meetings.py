"""Dispatch meetings (调度会), free of I/O: state, `evolve`, and the decisions on meeting commands."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from typing import Any

from pydantic import BaseModel, Field

from services.scheduling.commands import RecordAttendance, RecordDecision, RecordMinutes, ScheduleMeeting
from services.scheduling.domain import Recorded
from shared.catalogue import CATALOGUE
from shared.catalogue.scheduling import (
    AgendaItem,
    Attendee,
    DispatchMeetingScheduled,
    MeetingAttendanceRecorded,
    MeetingDecisionRecorded,
    MeetingKind,
    MeetingMinutesRecorded,
)
from shared.domain_errors import Conflict, NotFound, conflict, invalid


class MeetingState(BaseModel):
    id: str
    kind: MeetingKind
    title: str
    scheduled_for: datetime
    programme_id: str
    unit_id: str | None
    chair_id: str | None
    agenda: list[AgendaItem]
    agenda_as_of: date
    attendees: list[Attendee] = Field(default_factory=list)
    minutes: str = ""
    decisions: list[MeetingDecisionRecorded] = Field(default_factory=list)


# Event type -> how it changes a scheduled meeting.
CHANGES: dict[str, Callable[[MeetingState, Any], MeetingState]] = {
    "MeetingAttendanceRecorded": lambda s, p: s.model_copy(update={"attendees": p.attendees}),
    "MeetingMinutesRecorded": lambda s, p: s.model_copy(update={"minutes": p.minutes}),
    "MeetingDecisionRecorded": lambda s, p: s.model_copy(update={"decisions": [*s.decisions, p]}),
}


def evolve_meeting(state: MeetingState | None, event: Recorded) -> MeetingState:
    env = event.envelope
    p = CATALOGUE.payload_of(event)
    if isinstance(p, DispatchMeetingScheduled):
        return MeetingState(id=env.aggregate_id, **p.model_dump())
    if state is None:
        raise ValueError(f"{env.type} before DispatchMeetingScheduled")
    change = CHANGES.get(env.type)
    if change is None:
        raise ValueError(f"cannot apply {env.type} to a meeting")
    return change(state, p)


def units_taking_part(meeting: MeetingState) -> set[str]:
    """Units a meeting concerns: its own unit (a weekly meeting), those attending, those owning an agenda item or a
    decision. These see the meeting; the others do not."""
    units = {a.org_id for a in meeting.attendees}
    units |= {item.unit_id for item in meeting.agenda if item.unit_id is not None}
    units |= {d.owner_unit_id for d in meeting.decisions}
    if meeting.unit_id is not None:
        units.add(meeting.unit_id)
    return units


def projects_discussed(meeting: MeetingState) -> set[str]:
    """Projects on the agenda or concerned by a decision (a sponsoring leader sees the meetings of its projects)."""
    ids = {item.project_id for item in meeting.agenda if item.project_id is not None}
    return ids | {d.project_id for d in meeting.decisions if d.project_id is not None}


def meeting_must_exist(state: MeetingState | None) -> MeetingState:
    if state is None:
        raise NotFound("调度会不存在", field="meeting_id", reason="调度会不存在")
    return state


def decide_schedule(
    state: MeetingState | None, cmd: ScheduleMeeting, agenda: list[AgendaItem], as_of: date
) -> DispatchMeetingScheduled:
    """The agenda is generated from the state as of `as_of` by the caller (a query), then frozen in the event."""
    if state is not None:
        raise Conflict("调度会已存在", field="meeting_id", reason="已安排")
    return DispatchMeetingScheduled(**dict(cmd), agenda=agenda, agenda_as_of=as_of)


def decide_attendance(state: MeetingState | None, cmd: RecordAttendance) -> MeetingAttendanceRecorded:
    meeting_must_exist(state)
    return MeetingAttendanceRecorded(attendees=cmd.attendees)


def decide_minutes(state: MeetingState | None, cmd: RecordMinutes) -> MeetingMinutesRecorded:
    meeting_must_exist(state)
    return MeetingMinutesRecorded(minutes=cmd.minutes)


def decide_decision(
    state: MeetingState | None, cmd: RecordDecision, decision_id: str, project_unit_id: str | None = None
) -> MeetingDecisionRecorded:
    """Work goes only to a unit that attends (the meeting's own unit included) or answers for the project concerned
    (`project_unit_id`, the responsible unit of `cmd.project_id`): a meeting cannot task a unit that was not there."""
    meeting = meeting_must_exist(state)
    if any(d.decision_id == decision_id for d in meeting.decisions):
        raise conflict("decision_id", "该决定已记录")
    may_own = {a.org_id for a in meeting.attendees} | {u for u in (meeting.unit_id, project_unit_id) if u is not None}
    if cmd.owner_unit_id not in may_own:
        raise invalid("owner_unit_id", "只能交办给参会单位或所涉项目的责任单位")
    return MeetingDecisionRecorded(
        decision_id=decision_id, text=cmd.text, owner_unit_id=cmd.owner_unit_id, deadline=cmd.deadline,
        project_id=cmd.project_id,
    )  # fmt: skip
