"""The escalation ladder (逐级上报): which step is due for an issue at a moment, its new deadline and reason. Pure.

Unresolved at its deadline, an issue climbs exactly one rung: lead unit -> hq -> sponsoring leader (包保市领导) ->
mayor (市长), as the rule version in force lists them (a rung the rules leave out, or the leader's when the project
has none, is passed over). The new deadline runs from the moment the old one passed, not from when a timer noticed,
so every replica and every re-run after a restart computes the same step with the same deadline; the step's level is
in the id of the event that records it, so it is appended once. hq may escalate by hand, from the moment it does.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from services.issue_coordination.deadlines import (
    RuleVersion,
    calendar_in_force,
    calendar_of,
    china_day,
    effective_deadline,
    format_moment,
    rules_in_force,
)
from services.issue_coordination.work_calendar import Pause, WorkCalendar
from shared.catalogue.issue_rules import EscalationStep, IssueRules
from shared.clock import CHINA
from shared.domain_errors import Conflict, invalid

LEVELS = ("lead_unit", "hq", "leader", "mayor")
LEVEL_LABELS = {"lead_unit": "首接责任单位", "hq": "指挥部办公室", "leader": "包保市领导", "mayor": "市长"}

# No deadline runs while nobody has the issue yet or once it is answered or withdrawn.
CLOCK_STOPPED = frozenset({"raised", "withdrawn", "resolved", "confirmed", "closed"})


@dataclass(frozen=True)
class IssueClock:
    """What the ladder needs to know of an issue."""

    issue_id: str
    status: str
    level: str
    deadline: datetime | None
    deadline_since: datetime | None  # when the current deadline started to run (assignment, escalation, extension)
    calendar_version: int | None
    pauses: tuple[Pause, ...] = ()
    sponsor_org_id: str | None = None  # the project's 包保市领导, if any

    @property
    def waiting(self) -> bool:
        return any(p.end is None for p in self.pauses)


@dataclass(frozen=True)
class Escalation:
    """One step up the ladder and the deadline it gives."""

    from_level: str
    to_level: str
    target_org_id: str | None  # the leader's or the mayor's organisation; None for hq (the office as a whole)
    since: datetime
    deadline: datetime
    working_days: int
    rule_version: int
    calendar_version: int
    missed_deadline: datetime | None  # the deadline that passed; None when hq escalated by hand before it
    reason: str
    skipped: tuple[str, ...] = field(default=())

    @property
    def step(self) -> int:
        """The rung reached (1 = hq, 2 = leader, 3 = mayor): with the issue id, the identity of the event."""
        return LEVELS.index(self.to_level)


@dataclass(frozen=True)
class Overdue:
    """Past its deadline with no rung left above it (the mayor, or the last rung the rules in force name): the issue
    stays where it is, overdue."""

    level: str
    target_org_id: str | None  # the organisation holding that level (the mayor's, the leader's); None for hq
    deadline: datetime  # the deadline missed (pauses counted)
    calendar_version: int


def _missed(issue: IssueClock, at: datetime, calendars: Sequence[WorkCalendar]) -> datetime | None:
    """The issue's running deadline (pauses counted) when it had passed unresolved by `at`, else None."""
    if issue.status in CLOCK_STOPPED or issue.deadline is None or issue.waiting:
        return None
    since = issue.deadline_since or issue.deadline
    calendar = calendar_of(calendars, issue.calendar_version, since)
    missed = effective_deadline(issue.deadline, since=since, pauses=issue.pauses, calendar=calendar)
    return None if missed is None or at <= missed else missed


def due_escalation(
    issue: IssueClock, at: datetime, rule_versions: Sequence[RuleVersion], calendars: Sequence[WorkCalendar]
) -> Escalation | None:
    """The step due at `at`: exactly the next rung if the issue's deadline has passed unresolved, else None."""
    if (missed := _missed(issue, at, calendars)) is None:
        return None
    rules = rules_in_force(rule_versions, missed)
    step, skipped = _next_step(rules.rules, issue)
    if step is None:
        return None  # at the top of the ladder: it stays where it is, overdue (due_overdue)
    opening = f"{LEVEL_LABELS[issue.level]}办理期限 {format_moment(missed)} 已过仍未办结,{_skip_note(skipped)}"
    return _climb(issue, step, skipped, rules, calendar_in_force(calendars, missed), missed, missed, opening)


def due_overdue(
    issue: IssueClock, at: datetime, rule_versions: Sequence[RuleVersion], calendars: Sequence[WorkCalendar]
) -> Overdue | None:
    """The issue is past its deadline at `at` and no rung is left to climb: where escalation ends, the overdue
    notice (逾期提醒) takes over."""
    if (missed := _missed(issue, at, calendars)) is None:
        return None
    rules = rules_in_force(rule_versions, missed)
    if _next_step(rules.rules, issue)[0] is not None:
        return None
    calendar = calendar_of(calendars, issue.calendar_version, issue.deadline_since or missed)
    return Overdue(issue.level, _target(issue.level, rules.rules, issue), missed, calendar.version)


def manual_escalation(
    issue: IssueClock,
    at: datetime,
    reason: str,
    rule_versions: Sequence[RuleVersion],
    calendars: Sequence[WorkCalendar],
) -> Escalation:
    """hq escalates by hand (with a reason) to the next rung, whatever the deadline; its deadline runs from `at`."""
    if issue.status in CLOCK_STOPPED or issue.deadline is None:
        raise Conflict(
            f"问题当前状态为 {issue.status},不能升级", field="status", reason="只有已交办且未办结的问题可以升级",
            current_status=issue.status,
        )  # fmt: skip
    rules = rules_in_force(rule_versions, at, "reason")
    step, skipped = _next_step(rules.rules, issue)
    if step is None:
        raise Conflict(
            f"问题已在{LEVEL_LABELS[issue.level]}层级,没有更高的层级", field="level", reason="已是最高层级",
            current_status=issue.status,
        )  # fmt: skip
    opening = f"指挥部办公室手动升级:{reason};{_skip_note(skipped)}由{LEVEL_LABELS[issue.level]}"
    return _climb(issue, step, skipped, rules, calendar_in_force(calendars, at, "reason"), at, None, opening)


def _climb(
    issue: IssueClock, step: EscalationStep, skipped: tuple[str, ...], rules: RuleVersion, calendar: WorkCalendar,
    since: datetime, missed: datetime | None, opening: str,
) -> Escalation:  # fmt: skip
    """The step to `step`'s rung, its deadline `step.working_days` from `since`; the reason is `opening` (why: the
    deadline missed, or hq's words) followed by where it goes, until when, and on which rule and calendar versions."""
    deadline = calendar.add_working_days(since, step.working_days)
    reason = (
        f"{opening}升级至{LEVEL_LABELS[step.level]}办理,期限 {step.working_days} 个工作日,至 {format_moment(deadline)}"
        f"(期限规则第 {rules.version} 版,工作日历第 {calendar.version} 版)"
    )
    return Escalation(
        from_level=issue.level, to_level=step.level, target_org_id=_target(step.level, rules.rules, issue),
        since=since, deadline=deadline, working_days=step.working_days, rule_version=rules.version,
        calendar_version=calendar.version, missed_deadline=missed, reason=reason, skipped=skipped,
    )  # fmt: skip


def run_moment(day: date, now: datetime) -> datetime:
    """The moment an escalation run for `day` looks at: the end of that day, or now while it is today.

    A run for a day after the platform's today is refused: what is due then is not known yet."""
    if day > china_day(now):
        raise invalid("day", f"不能晚于平台今天({china_day(now).isoformat()})")
    end_of_day = datetime.combine(day + timedelta(days=1), time(0), tzinfo=CHINA) - timedelta(microseconds=1)
    return min(now, end_of_day)


def _next_step(rules: IssueRules, issue: IssueClock) -> tuple[EscalationStep | None, tuple[str, ...]]:
    """The next rung above the issue's level, and the rungs passed over on the way (a leader the project lacks)."""
    current = LEVELS.index(issue.level)
    skipped: list[str] = []
    for step in rules.escalation:
        if LEVELS.index(step.level) <= current:
            continue
        if step.level == "leader" and not issue.sponsor_org_id:
            skipped.append(step.level)
            continue
        return step, tuple(skipped)
    return None, tuple(skipped)


def _target(level: str, rules: IssueRules, issue: IssueClock) -> str | None:
    return {"leader": issue.sponsor_org_id, "mayor": rules.mayor_org_id}.get(level)


def _skip_note(skipped: tuple[str, ...]) -> str:
    return "".join(f"项目未设{LEVEL_LABELS[level]},越过该层级;" for level in skipped)
