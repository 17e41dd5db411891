"""Daily monitoring (日监测) and light re-evaluation: what became due soon, overdue or late to report, and lights
that changed.

Exactly once per item and day across replicas and restarts: every item and light is a decision run through
`shared.commands.execute`, which appends it guarded by the aggregate's expected sequence with a deterministic
event id and, on a lost race, reloads and decides again (then finding the item there: nothing to do).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date

from pydantic import BaseModel

from services.scheduling.domain_monitoring import (
    RecordLight,
    daily_light_event_id,
    day_id,
    decide_item,
    decide_light,
    item_event_id,
    items_for,
)
from services.scheduling.evaluation import evaluate
from services.scheduling.read_model import LIGHTS, MONITORING_DAYS
from shared.catalogue.scheduling import MonitoringCompleted
from shared.clock import today
from shared.commands import Outcome, execute, load
from shared.domain_errors import invalid, not_found
from shared.eventstore import Context
from shared.runtime import Runtime

__all__ = ["RunResult", "day_id", "reevaluate_light", "run_monitoring"]


@dataclass
class RunResult:
    day: date
    items_emitted: int
    lights_changed: int
    already_complete: bool


def _appended_here(outcome: Outcome) -> int:
    """1 when this call appended the event (not a replica before it, not a retry of an earlier append)."""
    return int(outcome.appended and not outcome.replayed)


async def run_monitoring(rt: Runtime, day: date, ctx: Context) -> RunResult:
    """Evaluate every project for `day`; safe to run concurrently on every replica and to repeat.

    Never for a day after the platform's today: a run dated ahead would freeze every light at that day for good (a
    light is never re-recorded for an earlier day than the one on record)."""
    if day > today(rt.clock):
        raise invalid("day", f"日监测日期 {day} 晚于平台当日 {today(rt.clock)}")
    loaded = await load(rt.pool, rt.store, rt.schema, MONITORING_DAYS, day_id(day))
    if loaded.state is not None and loaded.state.completed:
        return RunResult(day, 0, 0, already_complete=True)
    async with rt.pool.acquire() as conn:
        results = await evaluate(conn, rt.schema, day)
    items: list[BaseModel] = []
    changed = 0
    for e in results:
        items.extend(items_for(day, e.project, e.situation, e.plan, e.rules.rules))
        light = RecordLight(e.project.id, day, e.light, e.rules.version, today(rt.clock))
        changed += _appended_here(await _record_light(rt, light, ctx, daily_light_event_id(e.project.id, day)))
    # Items the day had when this run began (a run cut short by a restart) need no further look.
    missing = [item for item in items if decide_item(loaded.state, item) is not None]
    emitted = sum([_appended_here(await _emit(rt, day, item, ctx)) for item in missing])
    await _emit(rt, day, MonitoringCompleted(day=day, items=emitted, lights_changed=changed), ctx)
    return RunResult(day, emitted, changed, already_complete=False)


async def reevaluate_light(rt: Runtime, project_id: str, day: date, context: Context, event_id: uuid.UUID) -> Outcome:
    """Evaluate one project as of `day` and record its light (with `event_id`) only if it differs from the light
    on record; `Outcome.appended` is False when there was nothing to do.

    For a reaction to a progress report, phase change or plan change: the caller passes an id derived from the
    source event, and should call once scheduling's read model has applied that event (the evaluation reads it).
    """
    async with rt.pool.acquire() as conn:
        found = await evaluate(conn, rt.schema, day, project_ids=[project_id])
    if not found:
        raise not_found("project_id", "调度服务尚不知道该项目")
    [evaluation] = found
    light = RecordLight(project_id, day, evaluation.light, evaluation.rules.version, today(rt.clock))
    return await _record_light(rt, light, context, event_id)


async def _emit(rt: Runtime, day: date, item: BaseModel, ctx: Context) -> Outcome:
    return await execute(
        pool=rt.pool, store=rt.store, schema=rt.schema, spec=MONITORING_DAYS, aggregate_id=day_id(day),
        decide=lambda state: decide_item(state, item), context=ctx, event_id=item_event_id(day, item),
    )  # fmt: skip


async def _record_light(rt: Runtime, light: RecordLight, ctx: Context, event_id: uuid.UUID) -> Outcome:
    return await execute(
        pool=rt.pool, store=rt.store, schema=rt.schema, spec=LIGHTS, aggregate_id=light.project_id,
        decide=lambda state: decide_light(state, light), context=ctx, event_id=event_id,
    )  # fmt: skip
