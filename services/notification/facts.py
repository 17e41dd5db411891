"""What routing needs to know of other services' aggregates, folded from their events (pure): an issue's parties,
a supervision order's target, a dispatch meeting's organisations. Who answers for a project is the shared project
directory (shared.project_directory); organisations and their roles the identity tables."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from pydantic import BaseModel, Field

from shared.catalogue.issue_coordination import (
    IssueAssigned,
    IssueEscalated,
    IssueRaised,
    IssueReassigned,
    MeetingDecisionTracked,
    SupervisionOrderIssued,
)
from shared.catalogue.scheduling import DispatchMeetingScheduled, MeetingAttendanceRecorded
from shared.envelope import Envelope


class IssueFacts(BaseModel):
    issue_id: str
    project_id: str | None = None
    raised_by: str
    lead_unit_id: str | None = None
    co_handler_ids: list[str] = Field(default_factory=list)
    escalated_to: str | None = None  # the organisation of the rung it climbed to last (None for hq: every hq)


def _issue_created(env: Envelope, p: Any) -> IssueFacts:
    if isinstance(p, MeetingDecisionTracked):
        return IssueFacts(issue_id=env.aggregate_id, project_id=p.project_id, raised_by=p.decided_by,
                          lead_unit_id=p.owner_unit_id)  # fmt: skip
    assert isinstance(p, IssueRaised)
    return IssueFacts(issue_id=env.aggregate_id, project_id=p.project_id, raised_by=env.actor.org_id)


def _assigned(state: IssueFacts, p: IssueAssigned | IssueReassigned) -> IssueFacts:
    return state.model_copy(update={"lead_unit_id": p.lead_unit_id, "co_handler_ids": list(p.co_handler_ids)})


def _escalated(state: IssueFacts, p: IssueEscalated) -> IssueFacts:
    return state.model_copy(update={"escalated_to": p.target_org_id})


ISSUE_CHANGES: Mapping[type[BaseModel], Callable[[IssueFacts, Any], IssueFacts]] = {
    IssueAssigned: _assigned, IssueReassigned: _assigned, IssueEscalated: _escalated,
}  # fmt: skip


def evolve_issue_facts(state: IssueFacts | None, env: Envelope, payload: BaseModel | None) -> IssueFacts:
    if state is None:
        return _issue_created(env, payload)
    change = ISSUE_CHANGES.get(type(payload)) if payload is not None else None
    return state if change is None else change(state, payload)


class OrderFacts(BaseModel):
    order_id: str
    target_unit_id: str
    project_id: str | None = None
    issued_by: str
    subject: str = ""


def evolve_order_facts(state: OrderFacts | None, env: Envelope, payload: BaseModel | None) -> OrderFacts:
    if state is not None:
        return state
    assert isinstance(payload, SupervisionOrderIssued)
    return OrderFacts(order_id=env.aggregate_id, target_unit_id=payload.target_unit_id,
                      project_id=payload.project_id, issued_by=env.actor.org_id,
                      subject=payload.subject)  # fmt: skip


class MeetingFacts(BaseModel):
    meeting_id: str
    programme_id: str
    unit_id: str | None = None
    chair_id: str | None = None
    agenda_units: list[str] = Field(default_factory=list)
    attendees: list[str] = Field(default_factory=list)

    def organisations(self) -> list[str]:
        """Who hears of the meeting: its convening unit, its chair, the units its agenda names, its attendees."""
        orgs = [self.unit_id, self.chair_id, *self.agenda_units, *self.attendees]
        return list(dict.fromkeys(o for o in orgs if o))


def evolve_meeting_facts(state: MeetingFacts | None, env: Envelope, payload: BaseModel | None) -> MeetingFacts:
    if state is None:
        assert isinstance(payload, DispatchMeetingScheduled)
        units = [item.unit_id for item in payload.agenda if item.unit_id]
        return MeetingFacts(meeting_id=env.aggregate_id, programme_id=payload.programme_id, unit_id=payload.unit_id,
                            chair_id=payload.chair_id, agenda_units=list(dict.fromkeys(units)))  # fmt: skip
    if isinstance(payload, MeetingAttendanceRecorded):
        return state.model_copy(update={"attendees": [a.org_id for a in payload.attendees]})
    return state
