"""The weekly cadence (一周一调度), free of I/O: ISO weeks, each week's reporting deadline under a rule version, and
how a week's report stands against it.

A report covers the ISO week its period ends in; the week's report is on time when one covering it was recorded by
the deadline (e.g. Friday 17:00 China time of that week), late when the first came after it, missing when none has
come and the deadline has passed, pending before the deadline.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from shared.catalogue.scheduling import Colour, DimensionLight, ReportWeek, ReportWeekStatus, Rules
from shared.clock import CHINA

WEEKDAYS = ["周一", "周二", "周三", "周四", "周五", "周六", "周日"]


@dataclass(frozen=True, order=True)
class IsoWeek:
    year: int
    week: int

    @classmethod
    def of(cls, day: date) -> IsoWeek:
        found = day.isocalendar()
        return cls(found.year, found.week)

    @classmethod
    def parse(cls, text: str) -> IsoWeek:
        """`2026-W48`; ValueError for anything else, a week 53 included in a year that has none."""
        year, sep, week = text.partition("-W")
        if not sep or len(year) != 4 or len(week) != 2 or not (year.isdigit() and week.isdigit()):
            raise ValueError("应写作 YYYY-Www,如 2026-W48")
        found = cls(int(year), int(week))
        try:
            monday = date.fromisocalendar(found.year, found.week, 1)
        except ValueError:
            raise ValueError(f"{year} 年没有第 {int(week)} 周") from None
        return cls.of(monday)

    def day(self, weekday: int) -> date:
        """The given day of this week (1 = Monday ... 7 = Sunday)."""
        return date.fromisocalendar(self.year, self.week, weekday)

    def next(self) -> IsoWeek:
        return IsoWeek.of(self.day(1) + timedelta(days=7))

    def contains(self, day: date) -> bool:
        return self.day(1) <= day <= self.day(7)

    def label(self) -> str:
        return f"{self.year}-W{self.week:02d}"

    def chinese(self) -> str:
        return f"{self.year}年第{self.week}周"


def deadline(week: IsoWeek, rules: Rules) -> datetime:
    day = week.day(rules.report_deadline_weekday)
    return datetime.combine(day, time(rules.report_deadline_hour, rules.report_deadline_minute), tzinfo=CHINA)


def deadline_text(when: datetime) -> str:
    local = when.astimezone(CHINA)
    return f"{local:%Y-%m-%d} {WEEKDAYS[local.weekday()]} {local:%H:%M}"


def moment_text(when: datetime) -> str:
    return f"{when.astimezone(CHINA):%Y-%m-%d %H:%M}"


def end_of_day(day: date) -> datetime:
    """The last moment of a China day: what is known "on" a past day is what was there by then."""
    return datetime.combine(day, time.max, tzinfo=CHINA)


def reports_expected_from(planned_start: date, year: int) -> date:
    """Weekly reports are expected from the planned start (or the start of the year), whenever it was registered."""
    return max(date(year, 1, 1), planned_start)


@dataclass(frozen=True)
class FiledReport:
    period_start: date
    period_end: date
    recorded_at: datetime

    def covers(self, week: IsoWeek) -> bool:
        """A report answers for the week its period ends in and for every week whose Sunday its period spans: a
        catch-up report (补报) of several weeks answers for each of them, late where their deadlines have passed."""
        return week.contains(self.period_end) or self.period_start <= week.day(7) <= self.period_end


def week_status(week: IsoWeek, rules: Rules, reports: Sequence[FiledReport], now: datetime) -> ReportWeek:
    due = deadline(week, rules)
    # Every report known is counted, whenever recorded (recorded_at and `now` are on one clock, docs/adr/0017; a
    # run for a past day counts what is known now): a report recorded after `now` is as late as its recording says.
    first = min((r.recorded_at for r in reports if r.covers(week)), default=None)
    if first is not None:
        status = ReportWeekStatus.ON_TIME if first <= due else ReportWeekStatus.LATE
    else:
        status = ReportWeekStatus.MISSING if due <= now else ReportWeekStatus.PENDING
    return ReportWeek(week=week.label(), deadline=due, status=status, recorded_at=first)


def due_weeks(expected_from: date, now: datetime, rules: Rules) -> list[IsoWeek]:
    """The weeks whose deadline has passed by `now`, oldest first, from the first whose deadline falls on or after
    `expected_from` (the day reports were first expected)."""
    weeks: list[IsoWeek] = []
    week = IsoWeek.of(expected_from)
    while (due := deadline(week, rules)) <= now:
        if due.date() >= expected_from:
            weeks.append(week)
        if week.day(7) >= date.max - timedelta(days=7):
            break  # the calendar ends
        week = week.next()
    return weeks


def reporting_light(
    filed: Sequence[FiledReport],
    expected_from: date,
    now: datetime,
    rules: Rules,
    excused_by: Callable[[date], str | None],
) -> tuple[DimensionLight, list[ReportWeek]]:
    """The reporting dimension of a light: weeks whose deadline has passed, newest first; the newest decides, and a
    run of weeks still missing their report sets yellow or red by its length. A week whose deadline day an approved
    period exemption covers (`excused_by` names it) is excused and skipped."""
    weeks = due_weeks(expected_from, now, rules)
    decided: list[ReportWeek] = []
    excused: list[str] = []
    for week in reversed(weeks):
        due = deadline(week, rules)
        exemption_id = excused_by(due.date())
        if exemption_id is not None:
            excused.append(f"{week.chinese()}(正当理由豁免 {exemption_id})")
            decided.append(ReportWeek(week=week.label(), deadline=due, status=ReportWeekStatus.EXCUSED))
            continue
        decided.append(week_status(week, rules, filed, now))
        if decided[-1].status != ReportWeekStatus.MISSING:
            break
    decided.reverse()
    reasons = [f"{'、'.join(reversed(excused))}不计入报送预警"] if excused else []
    judged = [w for w in decided if w.status != ReportWeekStatus.EXCUSED]
    if not judged:
        return DimensionLight(colour=Colour.GREEN, reasons=reasons), decided
    newest = judged[-1]
    week = IsoWeek.parse(newest.week)
    if newest.status == ReportWeekStatus.ON_TIME:
        return DimensionLight(colour=Colour.GREEN, reasons=[f"{week.chinese()}进度已按时填报", *reasons]), decided
    if newest.status == ReportWeekStatus.LATE:
        assert newest.recorded_at is not None
        text = (
            f"{week.chinese()}进度逾期补报(截止 {deadline_text(newest.deadline)},"
            f"{moment_text(newest.recorded_at)} 报送)"
        )
        return DimensionLight(colour=rules.report_filed_late_colour, reasons=[text, *reasons]), decided
    missing = [w for w in judged if w.status == ReportWeekStatus.MISSING]
    last = max((r.period_end for r in filed), default=None)
    what = f"最近一次填报截至 {last.isoformat()}" if last is not None else "尚未填报进度"
    if len(missing) == 1:
        text = f"{week.chinese()}进度逾期未报(截止 {deadline_text(newest.deadline)}),{what}"
    else:
        first = IsoWeek.parse(missing[0].week)
        text = (
            f"已连续 {len(missing)} 周逾期未报进度({first.chinese()}至{week.chinese()},"
            f"最近截止 {deadline_text(newest.deadline)}),{what}"
        )
    if len(missing) >= rules.report_missing_red_weeks:
        colour = Colour.RED
        text += f",达到红灯标准(连续 {rules.report_missing_red_weeks} 周)"
    elif len(missing) >= rules.report_missing_yellow_weeks:
        colour = Colour.YELLOW
    else:
        colour = Colour.GREEN
    return DimensionLight(colour=colour, reasons=[text, *reasons]), decided
