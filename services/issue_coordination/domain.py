"""Issues (问题), free of I/O: the state folded from an issue's events (the decisions on its commands are in
domain_lifecycle.py).

Who may act (the raiser, the lead unit, hq) is policies.py's; what the issue's status allows is domain_lifecycle's. A
command the status does not allow is refused with 409 naming the current status (`current_status` in the problem
body, `bad_transition`).
Tracked meeting decisions are issues too: created assigned to their owner, then the same lifecycle.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, Field

from services.issue_coordination.domain_common import OVERDUE, evolve, notice_key, status_conflict
from shared.catalogue.intake import AttachmentRef
from shared.catalogue.issue_coordination import (
    Deadline,
    DeadlineSource,
    ExtensionDecided,
    ExtensionRequested,
    InformationProvided,
    InformationRequested,
    IssueAccepted,
    IssueAssigned,
    IssueCategory,
    IssueDeadlineNeared,
    IssueDeadlinePassed,
    IssueEscalated,
    IssueLevel,
    IssueNoteAdded,
    IssueRaised,
    IssueReassigned,
    IssueResolved,
    IssueWithdrawn,
    MeetingDecisionTracked,
    Priority,
    ReassignmentDeclined,
    ReassignmentRequested,
    ResolutionConfirmed,
    ResolutionRejected,
)
from shared.domain_errors import Conflict, NotFound
from shared.envelope import Envelope


class Status(StrEnum):
    RAISED = "raised"  # 已提出,待交办
    ASSIGNED = "assigned"  # 已交办,待受理
    ACCEPTED = "accepted"  # 已受理,办理中
    RESOLVED = "resolved"  # 已办结,待确认
    CONFIRMED = "confirmed"  # 已确认(关闭)
    WITHDRAWN = "withdrawn"  # 已撤回


STATUS_LABELS = {
    Status.RAISED: "已提出", Status.ASSIGNED: "已交办", Status.ACCEPTED: "办理中", Status.RESOLVED: "已办结待确认",
    Status.CONFIRMED: "已确认", Status.WITHDRAWN: "已撤回",
}  # fmt: skip
# Statuses in which someone owes work on the issue (its deadline runs, it can be overdue).
OPEN = frozenset({Status.ASSIGNED, Status.ACCEPTED})


class Origin(StrEnum):
    RAISED = "raised"  # 单位提出的问题
    MEETING_DECISION = "meeting_decision"  # 调度会议定事项


class PendingRequest(BaseModel):
    """A reassignment (退回改派) or extension (延期) request waiting for hq."""

    request_id: str
    reason: str
    requested_by: str
    requested_at: datetime
    suggested_unit_id: str | None = None
    requested_deadline: datetime | None = None


class InformationWait(BaseModel):
    """A question to the raiser; while it is unanswered the issue waits for the raiser (the deadline clock pauses)."""

    request_id: str
    question: str
    requested_by: str
    requested_at: datetime
    answered_at: datetime | None = None
    answer: str | None = None


class IssueState(BaseModel):
    id: str
    origin: Origin
    project_id: str | None = None
    programme_id: str | None = None
    category: IssueCategory
    description: str
    help_requested: str = ""
    priority: Priority = Priority.NORMAL
    attachments: list[AttachmentRef] = Field(default_factory=list)
    raised_by: str  # who confirms or rejects the resolution: the raising unit, or who recorded the decision
    raised_at: datetime
    meeting_id: str | None = None
    decision_id: str | None = None
    status: Status
    lead_unit_id: str | None = None
    co_handler_ids: list[str] = Field(default_factory=list)
    level: IssueLevel | None = None  # None until assigned; escalation raises it
    deadline: datetime | None = None
    deadline_source: DeadlineSource | None = None
    rule_version: int | None = None
    calendar_version: int | None = None
    deadline_since: datetime | None = None  # when the running deadline started to run (pauses count from here)
    escalated_to: list[str] = Field(default_factory=list)  # the leaders (包保市领导, 市长) it was escalated to
    assigned_at: datetime | None = None
    accepted_at: datetime | None = None
    resolved_at: datetime | None = None
    confirmed_at: datetime | None = None
    withdrawn_at: datetime | None = None
    answer: str | None = None
    rating: int | None = None
    reopen_count: int = 0
    reassignment_request: PendingRequest | None = None
    extension_request: PendingRequest | None = None
    information_requests: list[InformationWait] = Field(default_factory=list)
    decided_request_ids: list[str] = Field(default_factory=list)  # reassignment and extension requests decided
    deadline_notices: list[str] = Field(default_factory=list)  # deadline-near notices given (deadline|working days)
    last_changed_at: datetime

    @property
    def waiting_for_raiser(self) -> InformationWait | None:
        last = self.information_requests[-1] if self.information_requests else None
        return last if last is not None and last.answered_at is None else None

    def handlers(self) -> set[str]:
        """The units the issue is assigned to: the lead and the co-handlers."""
        return {u for u in (self.lead_unit_id, *self.co_handler_ids) if u is not None}


# Tracked meeting decisions are named after the decision (not at random): a replay, a restart or a second replica
# of the reaction targets the same issue, and optimistic concurrency lets only one creation in.
DECISION_ITEM_NAMESPACE = uuid.UUID("3f6b2a8e-5c1d-4e7a-9b0f-8d2c4a6e1f35")


def decision_item_id(meeting_id: str, decision_id: str) -> str:
    return "md-" + uuid.uuid5(DECISION_ITEM_NAMESPACE, f"{meeting_id}|{decision_id}").hex[:24]


# -- evolve ------------------------------------------------------------------------------------------------------

Change = Callable[[IssueState, Any, Envelope], dict[str, object]]


def _deadline(d: Deadline, s: IssueState, since: datetime) -> dict[str, object]:
    """A deadline given at `since`; one that stays as it was (a reassignment keeping it) keeps running from before."""
    kept = d.deadline == s.deadline and s.deadline_since is not None
    running = d.deadline_since or (s.deadline_since if kept else since)
    return {"deadline": d.deadline, "deadline_source": d.deadline_source, "rule_version": d.rule_version,
            "calendar_version": d.calendar_version, "deadline_since": running}  # fmt: skip


def _assigned(s: IssueState, p: IssueAssigned, env: Envelope) -> dict[str, object]:
    return {"status": Status.ASSIGNED, "lead_unit_id": p.lead_unit_id, "co_handler_ids": p.co_handler_ids,
            "level": IssueLevel.LEAD_UNIT, "assigned_at": env.recorded_at,
            **_deadline(p, s, env.recorded_at)}  # fmt: skip


def _reassigned(s: IssueState, p: IssueReassigned, env: Envelope) -> dict[str, object]:
    return {"status": Status.ASSIGNED, "lead_unit_id": p.lead_unit_id, "co_handler_ids": p.co_handler_ids,
            "assigned_at": env.recorded_at, "accepted_at": None, "reassignment_request": None,
            "decided_request_ids": [*s.decided_request_ids, p.request_id],
            **_deadline(p, s, env.recorded_at)}  # fmt: skip


def _pending(p: ReassignmentRequested | ExtensionRequested, env: Envelope) -> PendingRequest:
    return PendingRequest(
        request_id=p.request_id, reason=p.reason, requested_by=env.actor.org_id, requested_at=env.recorded_at,
        suggested_unit_id=getattr(p, "suggested_unit_id", None),
        requested_deadline=getattr(p, "requested_deadline", None),
    )  # fmt: skip


def _extension_decided(s: IssueState, p: ExtensionDecided, env: Envelope) -> dict[str, object]:
    update: dict[str, object] = {"extension_request": None, "decided_request_ids": [*s.decided_request_ids,
                                                                                     p.request_id]}  # fmt: skip
    if p.granted and p.deadline is not None:
        update |= _deadline(p.deadline, s, env.recorded_at)
    return update


def _information_requested(s: IssueState, p: InformationRequested, env: Envelope) -> dict[str, object]:
    wait = InformationWait(request_id=p.request_id, question=p.question, requested_by=env.actor.org_id,
                           requested_at=p.at or env.recorded_at)  # fmt: skip
    return {"information_requests": [*s.information_requests, wait]}


def _information_provided(s: IssueState, p: InformationProvided, env: Envelope) -> dict[str, object]:
    answered = [
        w.model_copy(update={"answered_at": p.at or env.recorded_at, "answer": p.answer})
        if w.request_id == p.request_id
        else w
        for w in s.information_requests
    ]
    return {"information_requests": answered}


def _escalated(s: IssueState, p: IssueEscalated, env: Envelope) -> dict[str, object]:
    reached = [p.target_org_id] if p.target_org_id and p.target_org_id not in s.escalated_to else []
    return {"level": p.to_level, "escalated_to": [*s.escalated_to, *reached], **_deadline(p, s, p.deadline_since)}


CHANGES: Mapping[type[BaseModel], Change] = {
    IssueWithdrawn: lambda s, p, env: {"status": Status.WITHDRAWN, "withdrawn_at": env.recorded_at},
    IssueAssigned: _assigned,
    ReassignmentRequested: lambda s, p, env: {"reassignment_request": _pending(p, env)},
    IssueReassigned: _reassigned,
    ReassignmentDeclined: lambda s, p, env: {
        "reassignment_request": None, "decided_request_ids": [*s.decided_request_ids, p.request_id]
    },
    IssueAccepted: lambda s, p, env: {"status": Status.ACCEPTED, "accepted_at": env.recorded_at},
    IssueNoteAdded: lambda s, p, env: {},
    ExtensionRequested: lambda s, p, env: {"extension_request": _pending(p, env)},
    ExtensionDecided: _extension_decided,
    InformationRequested: _information_requested,
    InformationProvided: _information_provided,
    IssueResolved: lambda s, p, env: {"status": Status.RESOLVED, "resolved_at": env.recorded_at, "answer": p.answer},
    ResolutionConfirmed: lambda s, p, env: {
        "status": Status.CONFIRMED, "confirmed_at": env.recorded_at, "rating": p.rating
    },
    ResolutionRejected: lambda s, p, env: {
        "status": Status.ACCEPTED, "resolved_at": None, "reopen_count": s.reopen_count + 1
    },
    IssueEscalated: _escalated,
    IssueDeadlineNeared: lambda s, p, env: {
        "deadline_notices": [*s.deadline_notices, notice_key(p.deadline, p.working_days_left)]
    },
    IssueDeadlinePassed: lambda s, p, env: {"deadline_notices": [*s.deadline_notices, notice_key(p.deadline, OVERDUE)]},
}  # fmt: skip


def _created(envelope: Envelope, p: BaseModel) -> IssueState:
    at = envelope.recorded_at
    if isinstance(p, IssueRaised):
        return IssueState(
            id=envelope.aggregate_id, origin=Origin.RAISED, raised_by=envelope.actor.org_id, raised_at=at,
            status=Status.RAISED, last_changed_at=at, **p.model_dump(),
        )  # fmt: skip
    if isinstance(p, MeetingDecisionTracked):
        return IssueState(
            id=envelope.aggregate_id, origin=Origin.MEETING_DECISION, project_id=p.project_id,
            programme_id=p.programme_id, category=IssueCategory.OTHER, description=p.text, raised_by=p.decided_by,
            raised_at=at, meeting_id=p.meeting_id, decision_id=p.decision_id, status=Status.ASSIGNED,
            lead_unit_id=p.owner_unit_id, level=IssueLevel.LEAD_UNIT, deadline=p.deadline,
            deadline_source=DeadlineSource.HQ, calendar_version=p.calendar_version, deadline_since=at, assigned_at=at,
            last_changed_at=at,
        )  # fmt: skip
    raise ValueError(f"{envelope.type} before the issue's creation for {envelope.aggregate_id}")


def evolve_issue(state: IssueState | None, envelope: Envelope, payload: BaseModel | None = None) -> IssueState:
    return evolve(state, envelope, payload, _created, CHANGES, "issue")


# -- decisions ---------------------------------------------------------------------------------------------------


def must_exist(state: IssueState | None) -> IssueState:
    if state is None:
        raise NotFound("问题不存在", field="issue_id", reason="问题不存在")
    return state


def bad_transition(issue: IssueState, what: str) -> Conflict:
    return status_conflict("问题", STATUS_LABELS[issue.status], issue.status.value, what)


def require_status(issue: IssueState, allowed: set[Status] | frozenset[Status], what: str) -> None:
    if issue.status not in allowed:
        raise bad_transition(issue, what)
