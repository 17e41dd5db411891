"""Deadlines from the rules (办理时限): N working days on the calendar in force, recording both versions. Pure.

A deadline is computed once, with the rule version and calendar version in force on the day it starts to run,
and kept with those numbers: a later version never moves it. Only pauses (waiting for the raiser) move it, and
they are counted on the calendar version the deadline recorded, so that too is the same under any later version.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime

from services.issue_coordination.versions import in_force, numbered
from services.issue_coordination.work_calendar import NoWorkingDay, Pause, WorkCalendar
from shared.catalogue.issue_coordination import Deadline, DeadlineSource
from shared.catalogue.issue_rules import IssueRules
from shared.clock import CHINA
from shared.domain_errors import conflict


@dataclass(frozen=True)
class RuleVersion:
    version: int
    effective_from: date
    rules: IssueRules


@dataclass(frozen=True)
class ComputedDeadline:
    deadline: datetime
    working_days: int
    rule_version: int
    calendar_version: int


def working_days_for(rules: IssueRules, category: str, priority: str) -> int:
    """The most specific matching rule's working days: category and priority, then category, then priority."""
    for wanted in ((category, priority), (category, None), (None, priority)):
        for rule in rules.deadlines:
            if (rule.category, rule.priority) == wanted:
                return rule.working_days
    return rules.default_working_days


def rules_in_force(versions: Sequence[RuleVersion], moment: datetime, field: str = "deadline") -> RuleVersion:
    found = in_force(versions, china_day(moment))
    if found is None:
        raise conflict(field, f"{china_day(moment).isoformat()} 尚无生效的期限规则,请先发布期限规则")
    return found


def calendar_in_force(calendars: Sequence[WorkCalendar], moment: datetime, field: str = "deadline") -> WorkCalendar:
    found = in_force(calendars, china_day(moment))
    if found is None:
        raise conflict(field, f"{china_day(moment).isoformat()} 尚无生效的工作日历,请先发布工作日历")
    return found


def calendar_version_in_force(calendars: Sequence[WorkCalendar], moment: datetime) -> int | None:
    """The calendar version in force on the day of `moment` (None before any): what a deadline hq sets by hand
    records, so that judging its working days and pauses later uses this version, whatever is published after."""
    found = in_force(calendars, china_day(moment))
    return None if found is None else found.version


def hand_set(calendars: Sequence[WorkCalendar], deadline: datetime, since: datetime) -> Deadline:
    """A deadline hq sets by hand at `since`: no rule computed it (`rule_version` stays None), but it records the
    calendar version in force that day, on which its working days and pauses are judged from then on."""
    return Deadline(
        deadline=deadline, deadline_source=DeadlineSource.HQ,
        calendar_version=calendar_version_in_force(calendars, since), deadline_since=since,
    )  # fmt: skip


def calendar_of(calendars: Sequence[WorkCalendar], version: int | None, since: datetime) -> WorkCalendar:
    """The calendar a deadline recorded; one without a recorded version (set by hand before deadlines recorded it)
    uses the one in force when it started to run."""
    recorded = numbered(calendars, version) if version is not None else None
    return recorded or calendar_in_force(calendars, since)


def rules_deadline(
    *,
    category: str,
    priority: str,
    since: datetime,
    rule_versions: Sequence[RuleVersion],
    calendars: Sequence[WorkCalendar],
    field: str = "deadline",
) -> ComputedDeadline:
    """The deadline of an issue assigned at `since`, from the rules and the calendar in force that day."""
    rules = rules_in_force(rule_versions, since, field)
    calendar = calendar_in_force(calendars, since, field)
    days = working_days_for(rules.rules, category, priority)
    try:
        due = calendar.add_working_days(since, days)
    except NoWorkingDay as exc:
        raise conflict(field, str(exc)) from None
    return ComputedDeadline(due, days, rules.version, calendar.version)


def effective_deadline(
    deadline: datetime, *, since: datetime, pauses: Iterable[Pause], calendar: WorkCalendar
) -> datetime | None:
    """The deadline once the pauses since it started are counted; None while the clock stands (waiting)."""
    return calendar.due_with_pauses(deadline, pauses, since)


def china_day(moment: datetime) -> date:
    return moment.astimezone(CHINA).date()


def format_moment(moment: datetime) -> str:
    """A moment as people here read it: China time, to the minute."""
    return moment.astimezone(CHINA).strftime("%Y-%m-%d %H:%M")
