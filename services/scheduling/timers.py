"""scheduling's timers (shared.timers): the daily monitoring (日监测), once per day across replicas and restarts."""

from __future__ import annotations

import logging

from services.scheduling.monitoring import run_monitoring
from shared.envelope import Actor, Role
from shared.eventstore import Context
from shared.runtime import Runtime
from shared.schedule import Period
from shared.settings import Settings
from shared.timers import Timer

DAILY_MONITORING = "daily_monitoring"
MONITOR = Actor(org_id="platform", role=Role.SYSTEM, user="scheduling-monitor")
log = logging.getLogger("tiaodu.scheduling")


async def monitor_day(rt: Runtime, period: Period) -> None:
    """One day's monitoring; the period's day is in every id it appends, so a repeated run appends nothing twice."""
    ctx = Context(actor=MONITOR, correlation_id=f"monitoring-{period.label}")
    result = await run_monitoring(rt, period.day, ctx)
    if not result.already_complete:
        log.info("monitoring %s: %s items, %s lights changed", result.day, result.items_emitted, result.lights_changed)


def scheduling_timers(settings: Settings) -> list[Timer]:
    return [Timer(DAILY_MONITORING, settings.schedule(DAILY_MONITORING), monitor_day)]
