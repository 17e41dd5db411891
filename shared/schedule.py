"""Schedules of time-driven work ("daily 06:00", "weekly mon 09:00", "every 5m", China time) and their periods.

Pure: no I/O, the current moment is passed in (shared.clock).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from datetime import time as time_of_day
from typing import Literal

from shared.clock import CHINA

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
EVERY_RE = re.compile(r"^every (\d+)(s|m|h)$")
UNITS = {"s": 1, "m": 60, "h": 3600}


@dataclass(frozen=True, order=True)
class Period:
    start: datetime  # aware; the period is due from this moment on
    label: str  # stable text for event ids: "2026-11-30" (daily, weekly) or "2026-11-30T06:05:00" (every)

    @property
    def day(self) -> date:
        """The business day (China) the period starts on."""
        return self.start.astimezone(CHINA).date()


@dataclass(frozen=True)
class Schedule:
    kind: Literal["daily", "weekly", "every"]
    at: time_of_day = time_of_day(0, 0)
    weekday: int = 0
    seconds: int = 0

    @classmethod
    def parse(cls, text: str) -> Schedule:
        """'daily HH:MM', 'weekly <mon..sun> HH:MM' or 'every <n>s|m|h'; a ValueError names what is wrong."""
        words = text.strip().lower().split()
        try:
            if len(words) == 2 and words[0] == "daily":
                return cls("daily", at=time_of_day.fromisoformat(words[1]))
            if len(words) == 3 and words[0] == "weekly" and words[1] in WEEKDAYS:
                return cls("weekly", at=time_of_day.fromisoformat(words[2]), weekday=WEEKDAYS.index(words[1]))
        except ValueError:
            pass
        if match := EVERY_RE.fullmatch(" ".join(words)):
            seconds = int(match.group(1)) * UNITS[match.group(2)]
            if seconds > 0:
                return cls("every", seconds=seconds)
        raise ValueError(f"schedule {text!r}: expected 'daily HH:MM', 'weekly mon HH:MM' or 'every 5m'")

    @property
    def step(self) -> timedelta:
        return {"daily": timedelta(days=1), "weekly": timedelta(days=7)}.get(self.kind, timedelta(seconds=self.seconds))

    def _period(self, start: datetime) -> Period:
        local = start.astimezone(CHINA)
        label = local.date().isoformat() if self.kind != "every" else local.replace(tzinfo=None).isoformat()
        return Period(start, label)

    def due(self, now: datetime) -> Period:
        """The latest period whose start is at or before `now`."""
        local = now.astimezone(CHINA)
        if self.kind == "every":
            start = datetime.fromtimestamp(now.timestamp() // self.seconds * self.seconds, tz=CHINA)
        else:
            start = datetime.combine(local.date(), self.at, tzinfo=CHINA)
            if self.kind == "weekly":
                start -= timedelta(days=(local.weekday() - self.weekday) % 7)
            if start > local:
                start -= self.step
        return self._period(start)

    def missed(self, done: datetime | None, now: datetime, limit: int) -> list[Period]:
        """Periods after `done` up to the due one, oldest first; only the due one when nothing was done yet."""
        due = self.due(now)
        periods = [due]
        while done is not None and len(periods) < limit and periods[-1].start - self.step > done:
            periods.append(self._period(periods[-1].start - self.step))
        return sorted(periods)
