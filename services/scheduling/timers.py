"""scheduling's timers (shared.timers): the daily monitoring (日监测), once per day across replicas and restarts;
the year-end evaluation (综合成效考评) of each programme year once it is closed (docs/adr/0037)."""

from __future__ import annotations

import logging

from services.scheduling.handlers_year_end import record_closed_years
from services.scheduling.monitoring import run_monitoring
from shared.envelope import Actor, Role
from shared.eventstore import Context
from shared.runtime import Runtime
from shared.schedule import Period
from shared.settings import Settings
from shared.timers import Timer

DAILY_MONITORING = "daily_monitoring"
YEAR_END_EVALUATION = "year_end_evaluation"
MONITOR = Actor(org_id="platform", role=Role.SYSTEM, user="scheduling-monitor")
EVALUATOR = Actor(org_id="platform", role=Role.SYSTEM, user="scheduling-year-end")
log = logging.getLogger("tiaodu.scheduling")


async def monitor_day(rt: Runtime, period: Period) -> None:
    """One day's monitoring; the period's day is in every id it appends, so a repeated run appends nothing twice."""
    ctx = Context(actor=MONITOR, correlation_id=f"monitoring-{period.label}")
    result = await run_monitoring(rt, period.day, ctx)
    if not result.already_complete:
        log.info("monitoring %s: %s items, %s lights changed", result.day, result.items_emitted, result.lights_changed)


async def close_years(rt: Runtime, period: Period) -> None:
    """The programme years closed by the period's day evaluated, each once (handlers_year_end.record_closed_years)."""
    ctx = Context(actor=EVALUATOR, correlation_id=f"year-end-{period.label}")
    for outcome in await record_closed_years(rt, period.day, rt.clock.now(), ctx):
        log.info("year-end evaluation recorded: %s (seq %s)", outcome.aggregate_id, outcome.seq)


def scheduling_timers(settings: Settings) -> list[Timer]:
    return [
        Timer(DAILY_MONITORING, settings.schedule(DAILY_MONITORING), monitor_day),
        Timer(YEAR_END_EVALUATION, settings.schedule(YEAR_END_EVALUATION), close_years),
    ]
