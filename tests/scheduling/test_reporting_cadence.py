"""The weekly cadence (一周一调度), pure: ISO weeks, the deadline as rule data, on time / late / missing, and the
reporting light that follows from them (services/scheduling/reporting_cadence.py)."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest

from services.scheduling.reporting_cadence import (
    FiledReport,
    IsoWeek,
    deadline,
    due_weeks,
    reporting_light,
    week_status,
)
from shared.catalogue.scheduling import Colour, ReportWeekStatus, Rules
from shared.clock import CHINA

DEFAULT = Rules()
W48 = IsoWeek(2026, 48)  # 2026-11-23 (Mon) .. 2026-11-29 (Sun); deadline Friday 2026-11-27 17:00
FRIDAY = date(2026, 11, 27)


def at(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=CHINA)


def no_exemption(_: date) -> str | None:
    return None


@pytest.mark.parametrize(
    ("text", "week"),
    [("2026-W48", IsoWeek(2026, 48)), ("2026-W53", IsoWeek(2026, 53)), ("2024-W01", IsoWeek(2024, 1))],
)
def test_iso_weeks_parse(text: str, week: IsoWeek) -> None:
    assert IsoWeek.parse(text) == week and week.label() == text


@pytest.mark.parametrize("text", ["2025-W53", "2026-W00", "2026-48", "2026-W4", "26-W48", "2026-Wxx"])
def test_iso_weeks_refuse(text: str) -> None:
    with pytest.raises(ValueError):
        IsoWeek.parse(text)


def test_the_deadline_is_rule_data() -> None:
    assert deadline(W48, DEFAULT) == at(FRIDAY, 17)
    monday_nine = Rules(report_deadline_weekday=1, report_deadline_hour=9, report_deadline_minute=30)
    assert deadline(W48, monday_nine) == at(date(2026, 11, 23), 9, 30)
    assert IsoWeek.of(date(2026, 11, 29)) == W48 and IsoWeek.of(date(2026, 11, 30)) == IsoWeek(2026, 49)


@pytest.mark.parametrize(
    ("recorded", "status"),
    [
        (at(FRIDAY, 16, 59), ReportWeekStatus.ON_TIME),
        (at(FRIDAY, 17, 0), ReportWeekStatus.ON_TIME),  # by the deadline
        (at(FRIDAY, 17, 1), ReportWeekStatus.LATE),
        (at(date(2026, 11, 30), 9), ReportWeekStatus.LATE),
    ],
)
def test_a_report_is_late_against_the_deadline(recorded: datetime, status: ReportWeekStatus) -> None:
    filed = [FiledReport(FRIDAY, FRIDAY, recorded)]
    found = week_status(W48, DEFAULT, filed, at(date(2026, 12, 1), 8))
    assert found.status == status and found.recorded_at == recorded and found.week == "2026-W48"


def test_before_the_deadline_a_week_is_pending_after_it_missing() -> None:
    assert week_status(W48, DEFAULT, [], at(FRIDAY, 16, 59)).status == ReportWeekStatus.PENDING
    assert week_status(W48, DEFAULT, [], at(FRIDAY, 17)).status == ReportWeekStatus.MISSING
    # A report of another week (period ending in W47) does not cover W48.
    other = [FiledReport(date(2026, 11, 22), date(2026, 11, 22), at(date(2026, 11, 20), 10))]
    assert week_status(W48, DEFAULT, other, at(FRIDAY, 18)).status == ReportWeekStatus.MISSING


def test_due_weeks_start_with_the_first_deadline_on_or_after_reports_are_expected() -> None:
    # 2026-01-01 is a Thursday: W01's deadline (Friday 2 January) is the first.
    weeks = due_weeks(date(2026, 1, 1), at(date(2026, 1, 16), 17), DEFAULT)
    assert [w.label() for w in weeks] == ["2026-W01", "2026-W02", "2026-W03"]
    assert [w.label() for w in due_weeks(date(2026, 1, 3), at(date(2026, 1, 16), 16), DEFAULT)] == ["2026-W02"]


def _filed_every_week_until(last: date) -> list[FiledReport]:
    """On-time reports of every week from W40 to the week of `last` (ending on its Friday)."""
    out, week = [], IsoWeek(2026, 40)
    while week.day(5) <= last:
        out.append(FiledReport(week.day(5), week.day(5), at(week.day(5), 12)))
        week = week.next()
    return out


@pytest.mark.parametrize(
    ("weeks_missed", "colour", "fragment"),
    [
        (0, Colour.GREEN, "2026年第48周进度已按时填报"),
        (1, Colour.YELLOW, "2026年第48周进度逾期未报(截止 2026-11-27 周五 17:00),最近一次填报截至 2026-11-20"),
        (2, Colour.YELLOW, "已连续 2 周逾期未报进度(2026年第47周至2026年第48周"),
        (3, Colour.RED, "已连续 3 周逾期未报进度(2026年第46周至2026年第48周"),
    ],
)
def test_weeks_missing_set_the_colour(weeks_missed: int, colour: Colour, fragment: str) -> None:
    filed = _filed_every_week_until(FRIDAY - timedelta(weeks=weeks_missed))
    light, weeks = reporting_light(filed, date(2026, 10, 1), at(date(2026, 11, 28), 6), DEFAULT, no_exemption)
    assert light.colour == colour
    assert fragment in light.reasons[0], light.reasons
    assert [w.status for w in weeks] == [ReportWeekStatus.ON_TIME] + [ReportWeekStatus.MISSING] * weeks_missed
    assert weeks[-1].week == "2026-W48"


def test_a_late_report_is_said_and_coloured_as_the_rules_say() -> None:
    filed = [
        *_filed_every_week_until(FRIDAY - timedelta(weeks=1)),
        FiledReport(FRIDAY, FRIDAY, at(date(2026, 11, 28), 9)),
    ]
    now = at(date(2026, 11, 29), 6)
    light, weeks = reporting_light(filed, date(2026, 10, 1), now, DEFAULT, no_exemption)
    assert light.colour == Colour.YELLOW  # the default: 逾期补报 is a warning (docs/adr/0017)
    assert light.reasons == ["2026年第48周进度逾期补报(截止 2026-11-27 周五 17:00,2026-11-28 09:00 报送)"]
    assert [w.status for w in weeks] == [ReportWeekStatus.LATE]
    lenient = Rules(report_filed_late_colour=Colour.GREEN)  # a rule version may say a report that came ends it
    assert reporting_light(filed, date(2026, 10, 1), now, lenient, no_exemption)[0].colour == Colour.GREEN


def test_before_friday_17_the_week_is_not_judged_yet() -> None:
    filed = _filed_every_week_until(FRIDAY - timedelta(weeks=1))  # W47 on time, nothing yet for W48
    before, _ = reporting_light(filed, date(2026, 10, 1), at(FRIDAY, 16, 59), DEFAULT, no_exemption)
    assert before.colour == Colour.GREEN and before.reasons == ["2026年第47周进度已按时填报"]
    after, _ = reporting_light(filed, date(2026, 10, 1), at(FRIDAY, 17), DEFAULT, no_exemption)
    assert after.colour == Colour.YELLOW


def test_weeks_an_exemption_covers_are_excused() -> None:
    filed = _filed_every_week_until(FRIDAY - timedelta(weeks=3))  # W46-W48 missing: red
    flood = {FRIDAY - timedelta(weeks=1), FRIDAY}  # an exemption covers the deadlines of W47 and W48

    def excused(day: date) -> str | None:
        return "ex-flood" if day in flood else None

    light, weeks = reporting_light(filed, date(2026, 10, 1), at(FRIDAY, 18), DEFAULT, excused)
    assert light.colour == Colour.YELLOW  # only W46 counts
    assert [w.status for w in weeks] == [ReportWeekStatus.ON_TIME, ReportWeekStatus.MISSING,
                                         ReportWeekStatus.EXCUSED, ReportWeekStatus.EXCUSED]  # fmt: skip
    assert "2026年第47周(正当理由豁免 ex-flood)、2026年第48周(正当理由豁免 ex-flood)不计入报送预警" in light.reasons


def test_never_reported_counts_from_when_reports_were_expected() -> None:
    light, weeks = reporting_light([], date(2026, 11, 16), at(FRIDAY, 18), DEFAULT, no_exemption)
    assert light.colour == Colour.YELLOW and "尚未填报进度" in light.reasons[0]
    assert [w.week for w in weeks] == ["2026-W47", "2026-W48"]
    nothing_due, weeks = reporting_light([], date(2026, 11, 28), at(date(2026, 11, 29), 8), DEFAULT, no_exemption)
    assert nothing_due.colour == Colour.GREEN and weeks == []


def test_a_catch_up_report_answers_for_every_week_it_spans_late_where_their_deadlines_passed() -> None:
    week = IsoWeek.of(FRIDAY)
    earlier = IsoWeek.of(FRIDAY - timedelta(weeks=2))
    catch_up = FiledReport(earlier.day(1), FRIDAY, at(FRIDAY, 12))  # three weeks in one report, on W48's Friday
    assert week_status(earlier, Rules(), [catch_up], at(FRIDAY, 18)).status == ReportWeekStatus.LATE
    assert week_status(week, Rules(), [catch_up], at(FRIDAY, 18)).status == ReportWeekStatus.ON_TIME
    # A week the period does not reach (its Sunday before the period starts) stays missing.
    before = IsoWeek.of(earlier.day(1) - timedelta(days=1))
    assert week_status(before, Rules(), [catch_up], at(FRIDAY, 18)).status == ReportWeekStatus.MISSING
