"""The parts of the year-end evaluation for one project, folded from the events behind them. Pure.

Every part is a tally (numerator over denominator) and the events it rests on; a unit's part adds up its projects'
tallies. What each part counts (docs/adr/0032):
- investment completion: the year's accepted investment (reports whose period ends in the year; a report recorded
  before the review existed counts at once) over the annual planned investment (as registered or last amended);
- milestones on time: the year plan's milestones completed, or due by the evaluation date, not excused by an
  approved exemption; on time when completed on or before the date due (baseline, moved only by a re-baseline);
- issues resolved on time: the project's issues resolved in the year (the resolution that stands), on time when
  recorded by the deadline they had then (as issue_coordination counts 按时办结), and those still open whose
  deadline passed in the year by the evaluation's moment (late: not resolving is never better than resolving late);
- reports on time: the weeks whose reporting deadline fell in the year and had passed, from the planned start; on
  time when a report covering the week was recorded by the deadline (reporting_cadence.py, as the lights judge it).
Only events recorded by the evaluation's moment (`known_at`, the end of its date) are given to these folds.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from pydantic import BaseModel

from services.scheduling.reporting_cadence import FiledReport, due_weeks, reports_expected_from, week_status
from shared.catalogue.intake import (
    ProgressReportAccepted,
    ProgressReported,
    ProjectDetailsAmended,
    ProjectRegistered,
)
from shared.catalogue.issue_coordination import (
    ExtensionDecided,
    IssueAssigned,
    IssueEscalated,
    IssueReassigned,
    IssueResolved,
    IssueWithdrawn,
    MeetingDecisionTracked,
    ResolutionRejected,
)
from shared.catalogue.scheduling import (
    ExemptionApproved,
    ExemptionRequested,
    ExemptionScope,
    MilestoneCompleted,
    MilestoneRebaselined,
    PlanBaselineApproved,
    PlanContent,
    ReportWeekStatus,
    Rules,
)
from shared.catalogue.year_end import EventRef, Part
from shared.clock import CHINA


@dataclass(frozen=True)
class Fact:
    """One event behind the evaluation, as scheduling's ledger keeps it."""

    seq: int
    event_id: str
    type: str
    aggregate_id: str
    recorded_at: datetime
    payload: BaseModel

    def ref(self) -> EventRef:
        return EventRef(id=self.event_id, seq=self.seq, type=self.type)


@dataclass
class Tally:
    numerator: Decimal = Decimal(0)
    denominator: Decimal = Decimal(0)
    counted: int = 0
    facts: dict[int, Fact] = field(default_factory=dict)  # by seq: an event behind two items is listed once

    def cite(self, *facts: Fact | None) -> None:
        for fact in facts:
            if fact is not None:
                self.facts[fact.seq] = fact

    def add(self, other: Tally) -> None:
        self.numerator += other.numerator
        self.denominator += other.denominator
        self.counted += other.counted
        self.facts.update(other.facts)

    def refs(self) -> list[EventRef]:
        return [self.facts[seq].ref() for seq in sorted(self.facts)]


@dataclass(frozen=True)
class Period:
    """What is evaluated: a programme year, on the events recorded by `known_at` (the end of `as_of`)."""

    year: int
    as_of: date
    known_at: datetime

    def holds(self, moment: datetime) -> bool:
        return moment.astimezone(CHINA).year == self.year and moment <= self.known_at


# -- investment -------------------------------------------------------------------------------------------------


def investment(project: Iterable[Fact], period: Period) -> Tally:
    tally = Tally()
    reports: dict[str, tuple[Fact, Fact | None, Decimal]] = {}  # report id -> (reported, accepted, counted)
    for fact in project:
        p = fact.payload
        if isinstance(p, ProjectRegistered) or (
            isinstance(p, ProjectDetailsAmended) and p.annual_planned_investment is not None
        ):
            tally.denominator = p.annual_planned_investment or Decimal(0)
            tally.facts = {s: f for s, f in tally.facts.items() if f.type not in PLANNED_TYPES}
            tally.cite(fact)
        elif isinstance(p, ProgressReported) and p.period_end.year == period.year:
            reports[p.report_id] = (fact, None, Decimal(0) if p.awaiting_review else p.investment_this_period)
        elif isinstance(p, ProgressReportAccepted) and p.report_id in reports:
            reported, _, _ = reports[p.report_id]
            reports[p.report_id] = (reported, fact, p.investment_accepted)
    for reported, accepted, counted in reports.values():
        if counted > 0:
            tally.numerator += counted
            tally.counted += 1
            tally.cite(reported, accepted)
    return tally


PLANNED_TYPES = {"ProjectRegistered", "ProjectDetailsAmended"}


# -- milestones -------------------------------------------------------------------------------------------------


@dataclass
class _Milestone:
    due: date
    due_set_by: Fact
    completed: Fact | None = None
    done_on: date | None = None
    excused_by: Fact | None = None


def milestones(plan: Iterable[Fact], period: Period) -> Tally:
    found: dict[str, _Milestone] = {}
    exemptions: dict[str, str] = {}  # exemption id -> milestone id
    for fact in plan:
        p = fact.payload
        if isinstance(p, PlanContent):  # drafted or revised: the milestones as a whole
            found = {m.milestone_id: _Milestone(m.planned_date, fact) for m in p.milestones}
        elif isinstance(p, PlanBaselineApproved):
            for milestone_id, due in p.milestone_dates.items():
                if milestone_id in found:
                    found[milestone_id].due, found[milestone_id].due_set_by = due, fact
        elif isinstance(p, MilestoneRebaselined) and p.milestone_id in found:
            found[p.milestone_id].due, found[p.milestone_id].due_set_by = p.to_date, fact
        elif isinstance(p, MilestoneCompleted) and p.milestone_id in found and found[p.milestone_id].completed is None:
            found[p.milestone_id].completed, found[p.milestone_id].done_on = fact, p.done_on
        elif isinstance(p, ExemptionRequested) and p.scope == ExemptionScope.MILESTONE and p.milestone_id:
            exemptions[p.exemption_id] = p.milestone_id
        elif isinstance(p, ExemptionApproved) and exemptions.get(p.exemption_id) in found:
            found[exemptions[p.exemption_id]].excused_by = fact
    tally = Tally()
    for m in found.values():
        if m.excused_by is not None or (m.completed is None and m.due > period.as_of):
            continue  # excused (正当理由豁免), or neither done nor due yet
        tally.counted += 1
        tally.denominator += 1
        if m.done_on is not None and m.done_on <= m.due:
            tally.numerator += 1
        tally.cite(m.due_set_by, m.completed)
    return tally


# -- issues -----------------------------------------------------------------------------------------------------


@dataclass
class _Issue:
    created: Fact
    deadline: datetime | None = None
    deadline_set_by: Fact | None = None
    resolved: Fact | None = None
    deadline_then: datetime | None = None
    withdrawn: bool = False


def _deadline_of(p: Any) -> datetime | None:
    if isinstance(p, IssueAssigned | IssueReassigned | IssueEscalated | MeetingDecisionTracked):
        return p.deadline
    if isinstance(p, ExtensionDecided) and p.granted and p.deadline is not None:
        return p.deadline.deadline
    return None


def issue(steps: Iterable[Fact], period: Period) -> Tally:
    """One issue's tally (nothing counted when it was withdrawn, or is neither resolved nor overdue in the year)."""
    state: _Issue | None = None
    for fact in steps:
        p = fact.payload
        if state is None:
            state = _Issue(fact)
        if (deadline := _deadline_of(p)) is not None:
            state.deadline, state.deadline_set_by = deadline, fact
        if isinstance(p, IssueResolved):
            state.resolved, state.deadline_then = fact, state.deadline
        elif isinstance(p, ResolutionRejected):
            state.resolved = state.deadline_then = None
        elif isinstance(p, IssueWithdrawn):
            state.withdrawn = True
    tally = Tally()
    if state is None or state.withdrawn:
        return tally
    if state.resolved is not None:
        if not period.holds(state.resolved.recorded_at):
            return tally
        on_time = state.deadline_then is not None and state.resolved.recorded_at <= state.deadline_then
    elif state.deadline is not None and period.holds(state.deadline):
        on_time = False  # still open, its deadline passed in the year
    else:
        return tally
    tally.counted = 1
    tally.denominator = Decimal(1)
    tally.numerator = Decimal(1 if on_time else 0)
    tally.cite(state.created, state.deadline_set_by, state.resolved)
    return tally


# -- reports ----------------------------------------------------------------------------------------------------


def reports(project: Iterable[Fact], period: Period, rules: Rules) -> Tally:
    planned_start: date | None = None
    basis: Fact | None = None
    filed: list[tuple[FiledReport, Fact]] = []
    for fact in project:
        p = fact.payload
        if isinstance(p, ProjectRegistered | ProjectDetailsAmended) and p.planned_start is not None:
            planned_start, basis = p.planned_start, fact
        elif isinstance(p, ProgressReported):
            filed.append((FiledReport(p.period_start, p.period_end, fact.recorded_at), fact))
    tally = Tally()
    if planned_start is None:
        return tally
    tally.cite(basis)
    for week in due_weeks(reports_expected_from(planned_start, period.year), period.known_at, rules):
        status = week_status(week, rules, [f for f, _ in filed], period.known_at)
        if status.deadline.astimezone(CHINA).year != period.year:
            continue
        tally.counted += 1
        tally.denominator += 1
        if status.status == ReportWeekStatus.ON_TIME:
            tally.numerator += 1
        if status.recorded_at is not None:  # the first report covering the week: the one it was judged on
            first = min((fact for f, fact in filed if f.covers(week)), key=lambda fact: fact.recorded_at)
            tally.cite(first)
    return tally


def project_parts(
    project: list[Fact], plan: list[Fact], issues: list[list[Fact]], period: Period, rules: Rules
) -> dict[Part, Tally]:
    """The four tallies of one project: its own events, its year plan's and each of its issues' (in log order)."""
    issue_tally = Tally()
    for steps in issues:
        issue_tally.add(issue(steps, period))
    return {
        Part.INVESTMENT: investment(project, period),
        Part.MILESTONES: milestones(plan, period),
        Part.ISSUES: issue_tally,
        Part.REPORTS: reports(project, period, rules),
    }
