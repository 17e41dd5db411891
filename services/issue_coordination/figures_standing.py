"""How each issue stood at a moment (open or not, its level, lead unit and deadline as then known), folded from its
steps as the log recorded them (the issue timeline, one row per event with its `recorded_at`). Pure.

The figures count open and overdue issues as they stood at the end of the period, not as they stand now: an issue
resolved, escalated or given a later deadline after the period ended is counted in that period as it was then.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from pydantic import BaseModel

from shared.catalogue.issue_coordination import (
    ExtensionDecided,
    IssueAssigned,
    IssueCategory,
    IssueEscalated,
    IssueLevel,
    IssueRaised,
    IssueReassigned,
    MeetingDecisionTracked,
)


@dataclass(frozen=True)
class Standing:
    """An issue at a moment: `open` while someone owes work on it (assigned or accepted, as domain.OPEN)."""

    issue_id: str
    category: IssueCategory
    open: bool = False
    level: IssueLevel | None = None
    lead_unit_id: str | None = None
    deadline: datetime | None = None

    def overdue(self, moment: datetime) -> bool:
        return self.open and self.deadline is not None and self.deadline < moment


# The steps that change what is counted, with the payload model each is read with (others change none of it).
PAYLOADS: Mapping[str, type[BaseModel]] = {
    "IssueRaised": IssueRaised, "MeetingDecisionTracked": MeetingDecisionTracked, "IssueAssigned": IssueAssigned,
    "IssueReassigned": IssueReassigned, "ExtensionDecided": ExtensionDecided, "IssueEscalated": IssueEscalated,
}  # fmt: skip
OPENS = frozenset({"IssueAccepted", "ResolutionRejected"})  # back to (or still) someone's work
CLOSES = frozenset({"IssueResolved", "ResolutionConfirmed", "IssueWithdrawn"})  # nobody owes work any more
STEP_TYPES = sorted({*PAYLOADS, *OPENS, *CLOSES})


def _step(s: Standing | None, issue_id: str, kind: str, payload: Any) -> Standing | None:
    p = PAYLOADS[kind].model_validate_json(payload) if kind in PAYLOADS else None
    if isinstance(p, IssueRaised):
        return Standing(issue_id, p.category)
    if isinstance(p, MeetingDecisionTracked):
        return Standing(issue_id, IssueCategory.OTHER, True, IssueLevel.LEAD_UNIT, p.owner_unit_id, p.deadline)
    if s is None:
        return None  # a step before the creation is not the issue's (the fold parks such events)
    if isinstance(p, IssueAssigned):
        return replace(s, open=True, level=IssueLevel.LEAD_UNIT, lead_unit_id=p.lead_unit_id, deadline=p.deadline)
    if isinstance(p, IssueReassigned):
        return replace(s, open=True, lead_unit_id=p.lead_unit_id, deadline=p.deadline)
    if isinstance(p, ExtensionDecided):
        return replace(s, deadline=p.deadline.deadline) if p.granted and p.deadline is not None else s
    if isinstance(p, IssueEscalated):
        return replace(s, level=p.to_level, deadline=p.deadline)
    return replace(s, open=kind in OPENS) if kind in OPENS | CLOSES else s


def standings(steps: Iterable[Mapping[str, Any]]) -> list[Standing]:
    """Each issue as its steps (rows of issue_id, type, payload JSON; in the log's order per issue, all recorded
    before the moment) left it."""
    found: dict[str, Standing | None] = {}
    for row in steps:
        issue_id = row["issue_id"]
        found[issue_id] = _step(found.get(issue_id), issue_id, row["type"], row["payload"])
    return [s for s in found.values() if s is not None]
