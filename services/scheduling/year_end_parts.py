"""The parts of the year-end evaluation for one project, folded from the events behind them. Pure.

Every part is a tally (numerator over denominator) and the events it rests on; a unit's part adds up its projects'
tallies. What each part counts (docs/adr/0032):
- investment completion: the year's accepted investment (reports whose period ends in the year; a report recorded
  before the review existed counts at once) over the annual planned investment (as registered or last amended);
- milestones on time: the year plan's milestones completed, or due by the evaluation date, not excused by an
  approved exemption; on time when completed on or before the date due (baseline, moved only by a re-baseline; as
  the plan stood on the date, while a completion or an exemption recorded later about it counts: a correction);
- issues resolved on time: the project's issues resolved in the year (the resolution that stands), on time when
  recorded by the deadline they had then (as issue_coordination counts 按时办结), and those still open whose
  deadline passed in the year by the evaluation's moment (late: not resolving is never better than resolving late);
- reports on time: the weeks whose reporting deadline fell in the year and had passed, from the planned start; on
  time when a report covering the week was recorded by the deadline (reporting_cadence.py, as the lights judge it),
  each week's deadline by the lights rule version in force on its Monday (published by the evaluation date).
What a rule version may add (docs/adr/0037):
- supervision orders on time: the 督办 orders about the project (or one of its issues) closed in the year by their
  deadline, and those still open whose deadline passed in the year (late);
- meeting decisions on time: the dispatch meetings' decisions (议定事项, tracked as issues) about the project,
  judged as issues are;
- weeks red (a deduction): the ISO weeks of the year up to the evaluation date in which the project's light, as
  recorded for its days, was red on at least one day.
Two moments bound what is counted (bitemporally): events recorded by `known_at` are known (the end of the
evaluation date for a recorded run, now for "as now known"), and what happened after `until` (the end of the
evaluation date) had not happened yet on it: a resolution, a closure or a deadline moved then is not counted, a
report for an earlier week recorded then is (late), a milestone recorded then as done on an earlier day is.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from pydantic import BaseModel

from services.scheduling.reporting_cadence import (
    FiledReport,
    IsoWeek,
    deadline,
    reports_expected_from,
    week_status,
)
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
    SupervisionOrderClosed,
    SupervisionOrderIssued,
)
from shared.catalogue.scheduling import (
    Colour,
    ExemptionApproved,
    ExemptionRequested,
    ExemptionScope,
    MilestoneCompleted,
    MilestoneRebaselined,
    PlanBaselineApproved,
    PlanContent,
    ReportWeekStatus,
    Rules,
    RuleVersionPublished,
    StatusLightChanged,
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
    """What is evaluated: a programme year as on `as_of`, on the events recorded by `known_at`; `valid_until` (the
    end of `as_of`, or the moment of recording if earlier) bounds what had happened: the same as `known_at` for a
    recorded run, earlier for "as now known for" the date."""

    year: int
    as_of: date
    known_at: datetime
    valid_until: datetime | None = None

    @property
    def until(self) -> datetime:
        return self.valid_until if self.valid_until is not None else self.known_at

    def holds(self, moment: datetime) -> bool:
        return moment.astimezone(CHINA).year == self.year and moment <= self.until

    def happened(self, fact: Fact) -> bool:
        return fact.recorded_at <= self.until


@dataclass(frozen=True)
class ReportingRules:
    """The lights rule versions whose weekly deadline judges the reports: those published by the end of the
    evaluation date (version 1, the defaults, always), so that a version published later changes nothing."""

    versions: tuple[RuleVersionPublished, ...] = ()

    @classmethod
    def of(cls, facts: Iterable[Fact], period: Period) -> ReportingRules:
        published = [f.payload for f in facts if isinstance(f.payload, RuleVersionPublished)
                     and (period.happened(f) or f.payload.version == 1)]  # fmt: skip
        return cls(tuple(published))

    def in_force(self, day: date) -> RuleVersionPublished | None:
        candidates = [v for v in self.versions if v.effective_from <= day]
        return max(candidates, key=lambda v: (v.effective_from, v.version)) if candidates else None

    def used(self, period: Period) -> list[int]:
        """The versions in force on the Mondays of the year up to the evaluation's moment."""
        week, last = IsoWeek.of(date(period.year, 1, 1)), period.until.astimezone(CHINA).date()
        used: set[int] = set()
        while week.day(1) <= last:
            if (version := self.in_force(week.day(1))) is not None:
                used.add(version.version)
            week = week.next()
        return sorted(used)

    def for_week(self, week: IsoWeek) -> Rules:
        """The rules in force on the week's Monday: the reporting period began under them."""
        version = self.in_force(week.day(1))
        return version.rules if version is not None else Rules()


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
        if isinstance(p, PlanContent | PlanBaselineApproved | MilestoneRebaselined) and not period.happened(fact):
            continue  # the plan as it stood on the evaluation date: a later revision or re-baseline had not happened
        if isinstance(p, PlanContent):  # drafted or revised: the milestones as a whole
            found = {m.milestone_id: _Milestone(m.planned_date, fact) for m in p.milestones}
        elif isinstance(p, PlanBaselineApproved):
            for milestone_id, due in p.milestone_dates.items():
                if milestone_id in found:
                    found[milestone_id].due, found[milestone_id].due_set_by = due, fact
        elif isinstance(p, MilestoneRebaselined) and p.milestone_id in found:
            found[p.milestone_id].due, found[p.milestone_id].due_set_by = p.to_date, fact
        elif isinstance(p, MilestoneCompleted) and p.milestone_id in found and found[p.milestone_id].completed is None:
            if p.done_on <= period.as_of:  # recorded later as done by the date: done on it (as now known)
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
        if not period.happened(fact):
            continue  # recorded after the evaluation date (as now known): not yet resolved nor moved on it
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
    if state is None or state.withdrawn:
        return Tally()
    return _closed_on_time(state.resolved, state.deadline_then, state.deadline, period,
                           cited=(state.created, state.deadline_set_by))  # fmt: skip


def _closed_on_time(
    closed: Fact | None, due_then: datetime | None, due: datetime | None, period: Period, cited: tuple[Fact | None, ...]
) -> Tally:
    """One item judged as 按时办结 counts it (an issue, a 督办 order): closed in the year, on time when recorded by
    the deadline it had then (`due_then`); still open with its deadline (`due`) passed in the year, late; else
    nothing counted. The tally cites `cited` and the closing."""
    tally = Tally()
    if closed is not None:
        if not period.holds(closed.recorded_at):
            return tally
        on_time = due_then is not None and closed.recorded_at <= due_then
    elif due is not None and period.holds(due):
        on_time = False  # still open, its deadline passed in the year
    else:
        return tally
    tally.counted = 1
    tally.denominator = Decimal(1)
    tally.numerator = Decimal(1 if on_time else 0)
    tally.cite(*cited, closed)
    return tally


# -- reports ----------------------------------------------------------------------------------------------------


def reporting_weeks(expected_from: date, period: Period, rules: ReportingRules) -> list[tuple[IsoWeek, Rules]]:
    """The weeks whose deadline fell in the year on or after `expected_from` and had passed by the evaluation's
    moment, each with the rules that set its deadline (the version in force for that reporting period)."""
    weeks: list[tuple[IsoWeek, Rules]] = []
    week = IsoWeek.of(expected_from)
    while week.day(1) <= period.until.astimezone(CHINA).date():
        week_rules = rules.for_week(week)
        due = deadline(week, week_rules)
        if due.date() >= expected_from and due <= period.until and due.astimezone(CHINA).year == period.year:
            weeks.append((week, week_rules))
        week = week.next()
    return weeks


def reports(project: Iterable[Fact], period: Period, rules: ReportingRules) -> Tally:
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
    for week, week_rules in reporting_weeks(reports_expected_from(planned_start, period.year), period, rules):
        status = week_status(week, week_rules, [f for f, _ in filed], period.known_at)
        tally.counted += 1
        tally.denominator += 1
        if status.status == ReportWeekStatus.ON_TIME:
            tally.numerator += 1
        if status.recorded_at is not None:  # the first report covering the week: the one it was judged on
            first = min((fact for f, fact in filed if f.covers(week)), key=lambda fact: fact.recorded_at)
            tally.cite(first)
    return tally


# -- what a rule version may add -------------------------------------------------------------------------------


def supervision_order(steps: Iterable[Fact], period: Period) -> Tally:
    """One 督办 order's tally: closed in the year by its deadline (on time) or after it, or still open with its
    deadline passed in the year (late); nothing counted otherwise."""
    issued: Fact | None = None
    closed: Fact | None = None
    for fact in steps:
        if not period.happened(fact):
            continue  # not yet issued nor closed on the evaluation date
        if isinstance(fact.payload, SupervisionOrderIssued):
            issued = fact
        elif isinstance(fact.payload, SupervisionOrderClosed):
            closed = fact
    if issued is None:
        return Tally()
    due: datetime = issued.payload.deadline  # type: ignore[attr-defined]
    return _closed_on_time(closed, due, due, period, cited=(issued,))


def red_weeks(project: Iterable[Fact], period: Period) -> Tally:
    """The weeks of the year up to the evaluation date in which the project's light, as recorded for its days, was
    red on at least one day (numerator), of the weeks it had a light (denominator). A light holds from the day it
    was evaluated for until the next; a later run for the same day replaces an earlier one."""
    by_day: dict[date, Fact] = {}
    for fact in project:
        p = fact.payload
        if isinstance(p, StatusLightChanged) and p.as_of <= period.as_of:
            by_day[p.as_of] = fact
    tally = Tally()
    days = sorted(by_day)
    red: dict[IsoWeek, list[Fact]] = {}
    lit: set[IsoWeek] = set()
    for i, day in enumerate(days):
        fact = by_day[day]
        # The days it held, within the year and up to the evaluation date (a red 2024 December is not 2025's).
        first = max(day, date(period.year, 1, 1))
        last = min(days[i + 1] - timedelta(days=1) if i + 1 < len(days) else period.as_of, period.as_of)
        week = IsoWeek.of(first)
        while first <= last and week.day(1) <= last:
            lit.add(week)
            if fact.payload.colour == Colour.RED:  # type: ignore[attr-defined]
                red.setdefault(week, []).append(fact)
            week = week.next()
    tally.denominator = Decimal(len(lit))
    tally.numerator = Decimal(len(red))
    tally.counted = len(red)
    for facts in red.values():
        tally.cite(*facts)
    return tally


def project_parts(
    project: list[Fact],
    plan: list[Fact],
    issues: list[list[Fact]],
    orders: Sequence[list[Fact]],
    period: Period,
    rules: ReportingRules,
) -> dict[Part, Tally]:
    """Every tally of one project: its own events (registration, reports, lights), its year plan's, each of its
    issues' (meeting decisions apart) and each of its 督办 orders' (in log order)."""
    issue_tally, decision_tally, order_tally = Tally(), Tally(), Tally()
    for steps in issues:
        tally = issue(steps, period)
        issue_tally.add(tally)  # decisions count among issues too, as issue_coordination's 按时办结 counts them
        if steps and isinstance(steps[0].payload, MeetingDecisionTracked):
            decision_tally.add(tally)
    for steps in orders:
        order_tally.add(supervision_order(steps, period))
    return {
        Part.INVESTMENT: investment(project, period),
        Part.MILESTONES: milestones(plan, period),
        Part.ISSUES: issue_tally,
        Part.REPORTS: reports(project, period, rules),
        Part.SUPERVISION: order_tally,
        Part.DECISIONS: decision_tally,
        Part.RED_WEEKS: red_weeks(project, period),
    }
