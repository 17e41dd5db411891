"""The working-day calendar (工作日历) and deadline arithmetic in working days. Pure: moments are passed in.

Counting follows the rule for periods in days (民法典第二百零一条): the day a period starts on is not counted. A
deadline of N working days from a moment is the END of the N-th working day after that moment's day, China time; a
working day ends at the calendar's `workday_end` (18:00 unless a version says otherwise). So an issue assigned on
Monday at 10:00 with 3 working days is due on Thursday at 18:00, and one assigned on the eve of the National Day
week is due counting from the first working day after it (a make-up Saturday counts).

Waiting for the raiser stops the clock (补充材料): a counted working day whose end falls inside a pause is not
counted, so each such day moves the deadline one working day on. A pause that ends before a day's end costs nothing;
a pause still open has no deadline at all until it ends.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from shared.catalogue.issue_rules import CalendarDays
from shared.clock import CHINA

# A calendar with no working day for this long is a mistake in the data, not a reason to loop for ever.
MAX_SCAN_DAYS = 3660


class NoWorkingDay(ValueError):
    pass


@dataclass(frozen=True)
class Pause:
    """An interval in which the issue waits for the raiser; `end` None while it still waits."""

    start: datetime
    end: datetime | None = None


@dataclass(frozen=True)
class WorkCalendar:
    version: int
    effective_from: date
    days: CalendarDays
    _holidays: frozenset[date] = field(init=False, repr=False, compare=False)
    _make_up: frozenset[date] = field(init=False, repr=False, compare=False)
    _rest: frozenset[int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_holidays", frozenset(self.days.holidays))
        object.__setattr__(self, "_make_up", frozenset(self.days.make_up_working_days))
        object.__setattr__(self, "_rest", frozenset(self.days.rest_weekdays))

    @property
    def workday_end(self) -> time:
        return time(self.days.workday_end_hour, self.days.workday_end_minute)

    def is_working_day(self, day: date) -> bool:
        if day in self._make_up:
            return True
        return day not in self._holidays and day.isoweekday() not in self._rest

    def end_of(self, day: date) -> datetime:
        """The moment the working day `day` ends (aware, China time)."""
        return datetime.combine(day, self.workday_end, tzinfo=CHINA)

    def working_days_after(self, day: date) -> Iterator[date]:
        """The working days strictly after `day`, in order."""
        current, idle = day, 0
        while True:
            current += timedelta(days=1)
            if self.is_working_day(current):
                idle = 0
                yield current
            else:
                idle += 1
                if idle > MAX_SCAN_DAYS:
                    raise NoWorkingDay(f"工作日历第 {self.version} 版在 {day.isoformat()} 之后没有工作日")

    def nth_working_day_after(self, day: date, n: int) -> date:
        if n < 1:
            raise ValueError("n must be at least 1")
        for count, working_day in enumerate(self.working_days_after(day), start=1):
            if count == n:
                return working_day
        raise AssertionError("unreachable: working_days_after never ends")

    def add_working_days(self, moment: datetime, n: int) -> datetime:
        """The deadline of `n` working days from `moment`: the end of the n-th working day after its day."""
        return self.end_of(self.nth_working_day_after(_china_day(moment), n))

    def shift(self, moment: datetime, n: int) -> datetime:
        """`moment` moved on by `n` working days, keeping its time of day (China time); n = 0 leaves it."""
        if n == 0:
            return moment
        local = moment.astimezone(CHINA)
        day = self.nth_working_day_after(local.date(), n)
        return datetime.combine(day, local.timetz())

    def working_day_ends(self, start: datetime, end: datetime) -> int:
        """How many working days end in [start, end)."""
        count, day = 0, _china_day(start) - timedelta(days=1)
        for working_day in self.working_days_after(day):
            moment = self.end_of(working_day)
            if moment >= end:
                return count
            if moment >= start:
                count += 1
        raise AssertionError("unreachable: working_days_after never ends")

    def working_days_between(self, start: datetime, end: datetime) -> int:
        """Working days used from `start` to `end`, counted as deadlines count them: the working days after `start`'s
        day that ended by `end`. So `working_days_between(t, add_working_days(t, n)) == n`."""
        if end <= start:
            return 0
        after_start_day = self.end_of(_china_day(start)) + timedelta(microseconds=1)
        return self.working_day_ends(after_start_day, end + timedelta(microseconds=1))

    def due_with_pauses(self, due: datetime, pauses: Iterable[Pause], since: datetime) -> datetime | None:
        """The deadline `due` (running since `since`) moved on by the working days whose end fell in a pause.

        None while a pause that began before the deadline is still open: the clock stands. A pause that began after
        the deadline had passed moves nothing (the issue was overdue already). The day the deadline started on was
        not counted, so its end inside a pause gives nothing back either."""
        first_counted = max(since, self.end_of(_china_day(since)) + timedelta(microseconds=1))
        for pause in sorted(pauses, key=lambda p: p.start):
            start = max(pause.start, first_counted)
            if start >= due or (pause.end is not None and pause.end <= start):
                continue
            if pause.end is None:
                return None
            due = self.shift(due, self.working_day_ends(start, pause.end))
        return due


def _china_day(moment: datetime) -> date:
    return moment.astimezone(CHINA).date()
