"""How an issue stood after the steps recorded before a moment (the fold behind the open and overdue figures of a
past period): reassignment moves it to another unit, a rejection reopens it, an extension or a step up the ladder
gives it a new deadline, a decision tracked from a meeting is open from the start. Pure."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel

from services.issue_coordination.figures_standing import Standing, standings
from shared.catalogue.issue_coordination import (
    Deadline,
    DeadlineSource,
    ExtensionDecided,
    IssueAssigned,
    IssueCategory,
    IssueEscalated,
    IssueLevel,
    IssueRaised,
    IssueReassigned,
    MeetingDecisionTracked,
)

JAN_10, JAN_20, FEB_10 = (datetime(2024, m, d, 10, tzinfo=UTC) for m, d in ((1, 10), (1, 20), (2, 10)))


def row(issue_id: str, kind: str, payload: BaseModel | None = None) -> dict[str, Any]:
    return {"issue_id": issue_id, "type": kind, "payload": payload.model_dump_json() if payload else "{}"}


RAISED = IssueRaised(project_id="p", programme_id="prog", category=IssueCategory.LAND, description="d",
                     help_requested="h")  # fmt: skip
ASSIGNED = IssueAssigned(deadline=JAN_10, deadline_source=DeadlineSource.HQ, lead_unit_id="unit-b")


def test_the_steps_fold_into_open_level_lead_and_deadline() -> None:
    steps = [
        row("a", "IssueRaised", RAISED), row("a", "IssueAssigned", ASSIGNED), row("a", "IssueAccepted"),
        row("a", "IssueReassigned", IssueReassigned(deadline=JAN_20, deadline_source=DeadlineSource.HQ,
                                                    request_id="r", lead_unit_id="unit-c", reason="x")),
        row("a", "IssueResolved"), row("a", "ResolutionRejected"),
        row("b", "IssueRaised", RAISED), row("b", "IssueAssigned", ASSIGNED),
        row("b", "IssueEscalated", IssueEscalated(
            deadline=JAN_20, deadline_source=DeadlineSource.RULES, rule_version=1, calendar_version=1,
            from_level=IssueLevel.LEAD_UNIT, to_level=IssueLevel.HQ, reason="r", deadline_since=JAN_10)),
        row("b", "ExtensionDecided", ExtensionDecided(request_id="e", granted=True, reason="ok", deadline=Deadline(
            deadline=FEB_10, deadline_source=DeadlineSource.HQ))),
        row("b", "IssueResolved"), row("b", "ResolutionConfirmed"),
        row("c", "IssueRaised", RAISED), row("c", "IssueWithdrawn"),
        row("d", "MeetingDecisionTracked", MeetingDecisionTracked(
            meeting_id="m", decision_id="d1", text="t", owner_unit_id="unit-d", deadline_day=JAN_10.date(),
            deadline=JAN_10, decided_by="hq")),
        row("e", "IssueRaised", RAISED),
    ]  # fmt: skip
    by_id = {s.issue_id: s for s in standings(steps)}
    assert by_id["a"] == Standing("a", IssueCategory.LAND, True, IssueLevel.LEAD_UNIT, "unit-c", JAN_20)
    assert by_id["b"] == Standing("b", IssueCategory.LAND, False, IssueLevel.HQ, "unit-b", FEB_10)
    assert not by_id["c"].open and by_id["c"].lead_unit_id is None
    assert by_id["d"] == Standing("d", IssueCategory.OTHER, True, IssueLevel.LEAD_UNIT, "unit-d", JAN_10)
    assert by_id["e"] == Standing("e", IssueCategory.LAND)
    assert by_id["a"].overdue(FEB_10) and not by_id["a"].overdue(JAN_10) and not by_id["b"].overdue(FEB_10)


def test_only_the_steps_before_the_moment_count() -> None:
    """The caller passes the steps recorded before the moment: the same issue, cut earlier, stood otherwise."""
    escalated = IssueEscalated(
        deadline=FEB_10, deadline_source=DeadlineSource.RULES, rule_version=1, calendar_version=1,
        from_level=IssueLevel.LEAD_UNIT, to_level=IssueLevel.HQ, reason="r", deadline_since=JAN_10,
    )  # fmt: skip
    steps = [
        row("a", "IssueRaised", RAISED),
        row("a", "IssueAssigned", ASSIGNED),
        row("a", "IssueEscalated", escalated),
    ]
    assert standings(steps[:2]) == [Standing("a", IssueCategory.LAND, True, IssueLevel.LEAD_UNIT, "unit-b", JAN_10)]
    assert standings(steps) == [Standing("a", IssueCategory.LAND, True, IssueLevel.HQ, "unit-b", FEB_10)]
