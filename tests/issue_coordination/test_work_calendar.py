"""The working-day calendar without servers: official holidays and make-up days, deadline arithmetic, pauses."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from pydantic import ValidationError

from services.issue_coordination.calendar_data import official_days
from services.issue_coordination.versions import in_force, next_number, numbered
from services.issue_coordination.work_calendar import NoWorkingDay, Pause, WorkCalendar
from shared.catalogue.issue_rules import CalendarDays
from shared.clock import CHINA

CAL = WorkCalendar(1, date(2000, 1, 1), official_days(2024, 2026))


def cst(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=CHINA)


@pytest.mark.parametrize(
    ("day", "worked"),
    [
        ("2026-09-30", True),  # Wednesday before National Day
        ("2026-10-01", False),
        ("2026-10-05", False),  # a Monday inside the holiday
        ("2026-10-07", False),
        ("2026-10-08", True),
        ("2026-10-10", True),  # Saturday, make-up working day (调休上班)
        ("2026-10-11", False),  # an ordinary Sunday
        ("2026-09-20", True),  # Sunday, make-up working day
        ("2024-09-29", True),  # Sunday, make-up working day
        ("2024-10-12", True),  # Saturday, make-up working day
        ("2024-10-07", False),
        ("2024-06-10", False),  # 端午节, a Monday
        ("2024-11-30", False),  # an ordinary Saturday
    ],
)
def test_working_days_follow_the_official_arrangements(day: str, worked: bool) -> None:
    assert CAL.is_working_day(date.fromisoformat(day)) is worked


def test_the_start_day_is_not_counted_and_a_deadline_is_the_end_of_the_working_day() -> None:
    assert CAL.add_working_days(cst("2026-11-30T09:00"), 1) == cst("2026-12-01T18:00")
    assert CAL.add_working_days(cst("2026-11-30T20:00"), 1) == cst("2026-12-01T18:00")
    assert CAL.add_working_days(cst("2026-11-30T09:00"), 3) == cst("2026-12-03T18:00")
    assert CAL.add_working_days(cst("2026-12-04T09:00"), 1) == cst("2026-12-07T18:00"), "Friday + 1 is Monday"


def test_days_are_china_days_whatever_the_zone_of_the_moment() -> None:
    # 17:00 UTC on 30 November is 01:00 on 1 December in China: the 1st is the start day.
    assert CAL.add_working_days(datetime(2026, 11, 30, 17, 0, tzinfo=UTC), 1) == cst("2026-12-02T18:00")


def test_a_holiday_week_with_a_make_up_saturday() -> None:
    # 2026: 10-01..07 off, Saturday 10-10 worked. From Wednesday 09-30: 10-08, 10-09, 10-10.
    assert CAL.add_working_days(cst("2026-09-30T10:00"), 3) == cst("2026-10-10T18:00")
    assert CAL.add_working_days(cst("2026-09-30T10:00"), 4) == cst("2026-10-12T18:00")
    # 2024: 10-01..07 off, Saturday 10-12 worked. From Monday 09-30: 10-08 .. 10-12 are five working days.
    assert CAL.add_working_days(cst("2024-09-30T10:00"), 5) == cst("2024-10-12T18:00")


def test_the_end_of_a_working_day_is_calendar_data() -> None:
    late = WorkCalendar(2, date(2000, 1, 1), CalendarDays(workday_end_hour=17, workday_end_minute=30))
    assert late.add_working_days(cst("2026-11-30T09:00"), 1) == cst("2026-12-01T17:30")


def test_a_pause_moves_the_deadline_by_the_working_days_that_ended_inside_it() -> None:
    since, due = cst("2026-11-30T09:00"), cst("2026-12-03T18:00")
    waited = [Pause(cst("2026-11-30T10:00"), cst("2026-12-02T10:00"))]  # Tuesday's end (Monday's was not counted)
    assert CAL.due_with_pauses(due, waited, since) == cst("2026-12-04T18:00")
    longer = [Pause(cst("2026-12-01T10:00"), cst("2026-12-03T10:00"))]  # Tuesday's and Wednesday's ends
    assert CAL.due_with_pauses(due, longer, since) == cst("2026-12-07T18:00")
    within_a_day = [Pause(cst("2026-12-01T09:00"), cst("2026-12-01T17:00"))]
    assert CAL.due_with_pauses(due, within_a_day, since) == due
    two = [*waited, Pause(cst("2026-12-04T12:00"), cst("2026-12-05T12:00"))]  # and Friday's, the moved due day's
    assert CAL.due_with_pauses(due, two, since) == cst("2026-12-07T18:00")


def test_holidays_inside_a_pause_cost_nothing_more() -> None:
    since, due = cst("2026-09-28T10:00"), cst("2026-10-08T18:00")
    waited = [Pause(cst("2026-09-30T19:00"), cst("2026-10-08T12:00"))]  # only holidays end inside it
    assert CAL.due_with_pauses(due, waited, since) == due


def test_an_open_pause_stops_the_clock_but_one_after_the_deadline_moves_nothing() -> None:
    since, due = cst("2026-11-30T09:00"), cst("2026-12-03T18:00")
    assert CAL.due_with_pauses(due, [Pause(cst("2026-12-01T10:00"))], since) is None
    assert CAL.due_with_pauses(due, [Pause(cst("2026-12-04T10:00"))], since) == due
    assert CAL.due_with_pauses(due, [Pause(cst("2026-12-04T10:00"), cst("2026-12-09T10:00"))], since) == due


def test_pauses_before_the_deadline_started_do_not_count_again() -> None:
    since, due = cst("2026-12-02T09:00"), cst("2026-12-04T18:00")
    earlier = [Pause(cst("2026-11-30T10:00"), cst("2026-12-02T10:00"))]  # only the hour after `since` counts
    assert CAL.due_with_pauses(due, earlier, since) == due
    start_day = [Pause(cst("2026-11-30T10:00"), cst("2026-12-03T10:00"))]  # 12-02, the start day, is not counted
    assert CAL.due_with_pauses(due, start_day, since) == due
    straddling = [Pause(cst("2026-11-30T10:00"), cst("2026-12-04T10:00"))]  # covers 12-03's end after `since`
    assert CAL.due_with_pauses(due, straddling, since) == cst("2026-12-07T18:00")


def test_shift_keeps_the_time_of_a_deadline_set_by_hand() -> None:
    assert CAL.shift(cst("2026-09-30T12:00"), 1) == cst("2026-10-08T12:00")
    assert CAL.shift(cst("2026-09-30T12:00"), 0) == cst("2026-09-30T12:00")


def test_working_days_between_counts_as_deadlines_do() -> None:
    start = cst("2026-09-28T10:00")
    assert CAL.working_days_between(start, cst("2026-10-10T18:00")) == 5  # 9-29, 9-30, 10-08, 10-09, 10-10
    assert CAL.working_days_between(start, cst("2026-10-10T17:59")) == 4
    for n in (1, 3, 7, 20):
        assert CAL.working_days_between(start, CAL.add_working_days(start, n)) == n
    assert CAL.working_days_between(start, cst("2026-09-28T23:00")) == 0, "the start day is not counted"
    assert CAL.working_days_between(cst("2026-10-02T10:00"), cst("2026-10-07T23:00")) == 0
    assert CAL.working_days_between(start, start - timedelta(hours=1)) == 0


def test_a_calendar_without_working_days_is_refused_not_looped_over() -> None:
    sundays = [date(2027, 1, 3) + timedelta(weeks=i) for i in range(600)]
    never = WorkCalendar(9, date(2000, 1, 1), CalendarDays(rest_weekdays=[1, 2, 3, 4, 5, 6], holidays=sundays))
    with pytest.raises(NoWorkingDay):
        never.add_working_days(cst("2027-01-01T10:00"), 1)


def test_a_day_cannot_be_both_off_and_worked() -> None:
    with pytest.raises(ValidationError, match="既是放假日又是调休上班日"):
        CalendarDays(holidays=[date(2026, 10, 10)], make_up_working_days=[date(2026, 10, 10)])
    with pytest.raises(ValidationError):
        CalendarDays(rest_weekdays=[6, 6])
    with pytest.raises(ValidationError):
        CalendarDays.model_validate({"holidays": [20261001]})


def test_the_version_in_force_is_the_latest_effective_one() -> None:
    v1 = WorkCalendar(1, date(2000, 1, 1), CalendarDays())
    v2 = WorkCalendar(2, date(2026, 1, 1), CalendarDays())
    v3 = WorkCalendar(3, date(2026, 1, 1), CalendarDays())  # same day, published later: wins
    v4 = WorkCalendar(4, date(2027, 1, 1), CalendarDays())
    versions = [v1, v2, v3, v4]
    assert in_force(versions, date(2025, 12, 31)) is v1
    assert in_force(versions, date(2026, 6, 1)) is v3
    assert in_force(versions, date(2027, 1, 1)) is v4
    assert in_force(versions, date(1999, 1, 1)) is None
    assert numbered(versions, 2) is v2 and numbered(versions, 7) is None
    assert next_number(versions) == 5 and next_number([]) == 1
