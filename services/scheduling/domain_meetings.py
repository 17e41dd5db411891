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
from shared.domain_errors import Conflict, NotFound, conflict


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


def decide_decision(state: MeetingState | None, cmd: RecordDecision, decision_id: str) -> MeetingDecisionRecorded:
    meeting = meeting_must_exist(state)
    if any(d.decision_id == decision_id for d in meeting.decisions):
        raise conflict("decision_id", "该决定已记录")
    return MeetingDecisionRecorded(
        decision_id=decision_id, text=cmd.text, owner_unit_id=cmd.owner_unit_id, deadline=cmd.deadline,
        project_id=cmd.project_id,
    )  # fmt: skip
