"""The clock is passed in, never read from the wall inside the domain: tests and the demo run simulated time."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo

CHINA = ZoneInfo("Asia/Shanghai")


class Clock(Protocol):
    def now(self) -> datetime: ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


@dataclass
class SimulatedClock:
    """A clock that only moves when told to (tests, demo mode: a year in seconds)."""

    current: datetime = field(default_factory=lambda: datetime(2024, 1, 1, tzinfo=UTC))

    def now(self) -> datetime:
        return self.current

    def advance(self, delta: timedelta) -> None:
        self.current += delta

    def set_day(self, day: date, hour: int = 8) -> None:
        self.current = datetime(day.year, day.month, day.day, hour, tzinfo=CHINA).astimezone(UTC)


@dataclass
class ShiftedClock:
    """Real time, moved so that it starts at `start` (make run's demo: the platform lives in its simulated year)."""

    start: datetime
    _origin: float = field(default_factory=time.monotonic)

    def now(self) -> datetime:
        return self.start + timedelta(seconds=time.monotonic() - self._origin)


def today(clock: Clock) -> date:
    """The business day in China, whatever the server's time zone."""
    return clock.now().astimezone(CHINA).date()
