"""What scheduling knows of a project's issues (问题), folded from issue_coordination's events in the log (services
never import each other): enough for a light to name an escalated issue, for the agenda and the weekly report. Pure.

Only the fields scheduling shows are kept; an issue event this fold does not know changes nothing (the owner may add
steps without breaking scheduling's read model).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from pydantic import BaseModel

from shared.catalogue import CATALOGUE
from shared.catalogue.issue_coordination import (
    IssueAccepted,
    IssueAssigned,
    IssueEscalated,
    IssueLevel,
    IssueRaised,
    IssueReassigned,
    IssueResolved,
    IssueWithdrawn,
    MeetingDecisionTracked,
    ResolutionConfirmed,
    ResolutionRejected,
)
from shared.envelope import Envelope

# Statuses in which work is owed on the issue (as issue_coordination counts them): assigned or accepted.
OPEN = frozenset({"assigned", "accepted"})
LEVEL_RANK = {IssueLevel.LEAD_UNIT: 0, IssueLevel.HQ: 1, IssueLevel.LEADER: 2, IssueLevel.MAYOR: 3}
LEVEL_LABELS = {IssueLevel.LEAD_UNIT: "首接责任单位", IssueLevel.HQ: "指挥部办公室", IssueLevel.LEADER: "包保市领导",
                IssueLevel.MAYOR: "市长"}  # fmt: skip
SUMMARY_CHARS = 30


class KnownIssue(BaseModel):
    id: str
    project_id: str | None
    summary: str  # the description (or the decision's text), shortened to name the issue in a reason
    category: str | None = None
    decision_id: str | None = None
    status: str
    level: IssueLevel | None = None
    lead_unit_id: str | None = None
    deadline: datetime | None = None
    last_changed_at: datetime

    @property
    def open(self) -> bool:
        return self.status in OPEN

    @property
    def escalated(self) -> bool:
        return self.level is not None and LEVEL_RANK[self.level] > 0


def summary(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= SUMMARY_CHARS else text[: SUMMARY_CHARS - 1] + "…"


Change = Callable[[KnownIssue, Any], dict[str, Any]]
CHANGES: dict[type[BaseModel], Change] = {
    IssueAssigned: lambda s, p: {"status": "assigned", "level": IssueLevel.LEAD_UNIT, "lead_unit_id": p.lead_unit_id,
                                 "deadline": p.deadline},
    IssueReassigned: lambda s, p: {"status": "assigned", "lead_unit_id": p.lead_unit_id, "deadline": p.deadline},
    IssueAccepted: lambda s, p: {"status": "accepted"},
    IssueResolved: lambda s, p: {"status": "resolved"},
    ResolutionRejected: lambda s, p: {"status": "accepted"},
    ResolutionConfirmed: lambda s, p: {"status": "confirmed"},
    IssueWithdrawn: lambda s, p: {"status": "withdrawn"},
    IssueEscalated: lambda s, p: {"level": p.to_level, "deadline": p.deadline},
}  # fmt: skip


def _created(issue_id: str, recorded_at: datetime, payload: BaseModel) -> KnownIssue:
    if isinstance(payload, IssueRaised):
        return KnownIssue(
            id=issue_id, project_id=payload.project_id, summary=summary(payload.description),
            category=payload.category.value, status="raised", last_changed_at=recorded_at,
        )  # fmt: skip
    if isinstance(payload, MeetingDecisionTracked):
        return KnownIssue(
            id=issue_id, project_id=payload.project_id, summary=summary(payload.text),
            decision_id=payload.decision_id, status="assigned", level=IssueLevel.LEAD_UNIT,
            lead_unit_id=payload.owner_unit_id, deadline=payload.deadline, last_changed_at=recorded_at,
        )  # fmt: skip
    raise ValueError(f"an issue cannot begin with {type(payload).__name__}")


def step(state: KnownIssue | None, issue_id: str, recorded_at: datetime, payload: BaseModel) -> KnownIssue:
    """One event of the issue applied: the live fold and the fold as known at a moment (weekly report) share it."""
    if state is None:
        return _created(issue_id, recorded_at, payload)
    change = CHANGES.get(type(payload))
    update = change(state, payload) if change is not None else {}
    return state.model_copy(update={**update, "last_changed_at": recorded_at})


def evolve_known_issue(state: KnownIssue | None, envelope: Envelope, payload: BaseModel | None = None) -> KnownIssue:
    if payload is None:
        payload = CATALOGUE.load_payload(envelope.type, envelope.schema_version, envelope.payload)
    return step(state, envelope.aggregate_id, envelope.recorded_at, payload)
