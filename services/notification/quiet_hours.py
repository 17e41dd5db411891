"""Quiet hours (免打扰时段) in China time: a notification that falls inside them waits for their end, it is not
dropped; critical urgency goes through them.

Pure: the moment is passed in. A window such as 22:00-07:00 crosses midnight; start == end means no quiet hours.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta

from shared.clock import CHINA

CRITICAL = "critical"


@dataclass(frozen=True)
class QuietHours:
    start: time
    end: time

    def contains(self, moment: datetime) -> bool:
        local = moment.astimezone(CHINA).time()
        if self.start == self.end:
            return False
        if self.start < self.end:
            return self.start <= local < self.end
        return local >= self.start or local < self.end  # across midnight

    def ends_after(self, moment: datetime) -> datetime:
        """The first moment at or after `moment` outside the window (`moment` itself when it is outside)."""
        if not self.contains(moment):
            return moment
        local = moment.astimezone(CHINA)
        end = datetime.combine(local.date(), self.end, CHINA)
        if end <= local:
            end += timedelta(days=1)
        return end


def held_until(quiet: QuietHours | None, urgency: str, moment: datetime) -> datetime | None:
    """When a notification of `urgency` due at `moment` may go out, or None when it may go now."""
    if quiet is None or urgency == CRITICAL or not quiet.contains(moment):
        return None
    return quiet.ends_after(moment)
