"""Issue figures (问题办理统计) per lead unit and period, computed from the issues as the log folded them. Pure.

What each figure counts (docs/adr/0023):
- resolved in the period: issues whose last resolution (办结) was recorded in the period, still resolved or confirmed
  (a rejected resolution is no resolution; the issue is back at work and counts again when resolved again);
- on time (按时办结): resolved by the deadline it had then;
- time to resolve: working days from raising to resolution on the calendar version its deadline recorded (one set
  by hand: the version in force on the day it was raised), counted as deadlines count them; mean and the 90th
  percentile (nearest rank);
- reopen rate: of those resolved, the share rejected at least once (退回重办);
- satisfaction: mean rating of the confirmations recorded in the period;
- open and overdue: issues owing work (assigned or accepted) at the end of the period (the end of its last day,
  China time; at `now` while the period runs), by the level and lead unit they had then, overdue when the deadline
  then known had passed by that moment; by category and by level (figures_standing.py folds them from the steps).
Every moment is an event's `recorded_at`, so the same log gives the same figures, before and after a rebuild.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal

from services.issue_coordination.deadlines import calendar_of, china_day
from services.issue_coordination.domain import IssueState, Status
from services.issue_coordination.figures_standing import Standing
from services.issue_coordination.work_calendar import WorkCalendar
from shared.clock import CHINA
from shared.domain_errors import invalid

RESOLVED = frozenset({Status.RESOLVED, Status.CONFIRMED})


@dataclass(frozen=True)
class Period:
    """Days `first` to `last`, both included, China time."""

    first: date
    last: date

    def holds(self, moment: datetime | None) -> bool:
        return moment is not None and self.first <= china_day(moment) <= self.last

    def end(self) -> datetime:
        """The moment the period ends: midnight after its last day, China time."""
        return datetime.combine(self.last + timedelta(days=1), time(0), tzinfo=CHINA)


def open_counted_at(period: Period, now: datetime) -> datetime:
    """When the open and overdue issues of `period` are counted: its end, or now while it runs (in UTC, as the
    platform's other moments are answered)."""
    return min(period.end(), now).astimezone(UTC)


def parse_period(period: str | None, date_from: date | None, date_to: date | None) -> Period:
    """`2024-05` (a month), `2024-Q2` (a quarter), `2024` (a year), or date_from/date_to (both included)."""
    if period is not None:
        if date_from is not None or date_to is not None:
            raise invalid("period", "period 与 date_from/date_to 只能给出一种")
        return _named_period(period)
    if date_from is None or date_to is None:
        raise invalid("period", "请给出统计期间:period(如 2024-05、2024-Q2、2024)或 date_from 与 date_to")
    if date_to < date_from:
        raise invalid("date_to", "结束日期不能早于开始日期")
    return Period(date_from, date_to)


def _named_period(period: str) -> Period:
    try:
        if len(period) == 4:
            year = int(period)
            return Period(date(year, 1, 1), date(year, 12, 31))
        year_part, rest = period.split("-")
        year = int(year_part)
        if len(year_part) != 4:
            raise ValueError(period)
        if rest.upper().startswith("Q") and len(rest) == 2 and rest[1] in "1234":
            first_month = 3 * (int(rest[1]) - 1) + 1
            return Period(date(year, first_month, 1), _month_end(year, first_month + 2))
        if len(rest) == 2 and 1 <= int(rest) <= 12:
            return Period(date(year, int(rest), 1), _month_end(year, int(rest)))
    except ValueError:
        pass
    raise invalid("period", "统计期间格式应为 2024-05(月)、2024-Q2(季度)或 2024(年)")


def _month_end(year: int, month: int) -> date:
    following = date(year + month // 12, month % 12 + 1, 1)
    return following - timedelta(days=1)


@dataclass(frozen=True)
class IssueFigures:
    resolved: int
    resolved_on_time: int
    on_time_rate: Decimal | None
    mean_working_days_to_resolve: Decimal | None
    p90_working_days_to_resolve: int | None
    reopened: int
    reopen_rate: Decimal | None
    confirmed: int
    mean_rating: Decimal | None
    open_counted_at: datetime
    open_total: int
    overdue_total: int
    open_by_category: dict[str, int]
    overdue_by_category: dict[str, int]
    open_by_level: dict[str, int]
    overdue_by_level: dict[str, int]


def _ratio(part: int | float, whole: int) -> Decimal | None:
    if whole == 0:
        return None
    return (Decimal(part) / Decimal(whole)).quantize(Decimal("0.0001"), rounding=ROUND_HALF_UP)


def p90(values: Sequence[int]) -> int | None:
    """The 90th percentile by nearest rank: the smallest value with at least 90% of the values at or below it."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[math.ceil(0.9 * len(ordered)) - 1]


def working_days_to_resolve(issue: IssueState, calendars: Sequence[WorkCalendar]) -> int:
    assert issue.resolved_at is not None
    calendar = calendar_of(calendars, issue.calendar_version, issue.raised_at)
    return calendar.working_days_between(issue.raised_at, issue.resolved_at)


def issue_figures(
    issues: Iterable[IssueState],
    standing: Iterable[Standing],
    period: Period,
    now: datetime,
    calendars: Sequence[WorkCalendar],
) -> IssueFigures:
    """`issues` as the log has them now; `standing`: the issues as they stood at `open_counted_at(period, now)`."""
    all_issues = list(issues)
    resolved = [i for i in all_issues if i.status in RESOLVED and period.holds(i.resolved_at)]
    on_time = [i for i in resolved if i.deadline is not None and i.resolved_at is not None
               and i.resolved_at <= i.deadline]  # fmt: skip
    days = [working_days_to_resolve(i, calendars) for i in resolved]
    reopened = [i for i in resolved if i.reopen_count > 0]
    confirmed = [i for i in all_issues if i.status == Status.CONFIRMED and period.holds(i.confirmed_at)]
    ratings = [i.rating for i in confirmed if i.rating is not None]
    counted_at = open_counted_at(period, now)
    open_issues = [i for i in standing if i.open]
    overdue = [i for i in open_issues if i.overdue(counted_at)]
    return IssueFigures(
        resolved=len(resolved), resolved_on_time=len(on_time), on_time_rate=_ratio(len(on_time), len(resolved)),
        mean_working_days_to_resolve=_ratio(sum(days), len(days)), p90_working_days_to_resolve=p90(days),
        reopened=len(reopened), reopen_rate=_ratio(len(reopened), len(resolved)),
        confirmed=len(confirmed), mean_rating=_ratio(sum(ratings), len(ratings)),
        open_counted_at=counted_at, open_total=len(open_issues), overdue_total=len(overdue),
        open_by_category=_count(i.category.value for i in open_issues),
        overdue_by_category=_count(i.category.value for i in overdue),
        open_by_level=_count(i.level.value for i in open_issues if i.level is not None),
        overdue_by_level=_count(i.level.value for i in overdue if i.level is not None),
    )  # fmt: skip


def _count(keys: Iterable[str]) -> dict[str, int]:
    return dict(sorted(Counter(keys).items()))
