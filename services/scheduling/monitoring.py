"""Daily monitoring (日监测) and light re-evaluation: what became due soon, overdue or late to report, and lights
that changed.

Exactly once per item and day across replicas and restarts: every item and light is a decision run through
`shared.commands.execute`, which appends it guarded by the aggregate's expected sequence with a deterministic
event id and, on a lost race, reloads and decides again (then finding the item there: nothing to do).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date

from pydantic import BaseModel

from services.scheduling.domain_monitoring import (
    MonitoringDayState,
    RecordLight,
    daily_light_event_id,
    day_id,
    decide_item,
    decide_light,
    item_event_id,
    items_for,
    rerun_light_event_id,
)
from services.scheduling.evaluation import evaluate, judged_at
from services.scheduling.read_model import LIGHTS, MONITORING_DAYS
from shared.catalogue.scheduling import MonitoringCompleted
from shared.clock import today
from shared.commands import Outcome, execute, load
from shared.domain_errors import invalid, not_found
from shared.eventstore import Context
from shared.runtime import Runtime

__all__ = ["RunResult", "day_id", "reevaluate_light", "run_monitoring", "run_now"]


@dataclass
class RunResult:
    day: date
    items_emitted: int
    lights_changed: int
    already_complete: bool
    rerun: bool = False  # hq's run-now after the day's run: a re-evaluation with the data known by now


def _appended_here(outcome: Outcome) -> int:
    """1 when this call appended the event (not a replica before it, not a retry of an earlier append)."""
    return int(outcome.appended and not outcome.replayed)


async def run_monitoring(rt: Runtime, day: date, ctx: Context) -> RunResult:
    """The day's run (the timer's): evaluate every project for `day`; safe to run concurrently on every replica and
    to repeat, exactly once per item and day.

    Never for a day after the platform's today: a run dated ahead would freeze every light at that day for good (a
    light is never re-recorded for an earlier day than the one on record)."""
    _not_ahead(rt, day)
    loaded = await load(rt.pool, rt.store, rt.schema, MONITORING_DAYS, day_id(day))
    if loaded.state is not None and loaded.state.completed:
        return RunResult(day, 0, 0, already_complete=True)
    emitted, changed = await _evaluate_and_record(
        rt, day, ctx, loaded.state, lambda project_id: daily_light_event_id(project_id, day)
    )
    await _emit(rt, day, MonitoringCompleted(day=day, items=emitted, lights_changed=changed), ctx)
    return RunResult(day, emitted, changed, already_complete=False)


async def run_now(rt: Runtime, day: date, ctx: Context, run_id: uuid.UUID) -> RunResult:
    """hq's 立即执行: the day's run if it has not happened yet; after it, on the same day, a re-evaluation with the
    data known by now, recording every light whose colour or reasons changed since (with ids of this run, so a
    retry of it appends nothing twice) and any item the day does not have yet.

    A past day whose run is complete stays as it was shown that day: nothing is recorded for it."""
    result = await run_monitoring(rt, day, ctx)
    if not result.already_complete or day < today(rt.clock):
        return result
    loaded = await load(rt.pool, rt.store, rt.schema, MONITORING_DAYS, day_id(day))
    emitted, changed = await _evaluate_and_record(
        rt, day, ctx, loaded.state, lambda project_id: rerun_light_event_id(project_id, day, run_id)
    )
    return RunResult(day, emitted, changed, already_complete=True, rerun=True)


def _not_ahead(rt: Runtime, day: date) -> None:
    if day > today(rt.clock):
        raise invalid("day", f"日监测日期 {day} 晚于平台当日 {today(rt.clock)}")


async def _evaluate_and_record(
    rt: Runtime,
    day: date,
    ctx: Context,
    known: MonitoringDayState | None,
    light_event_id: Callable[[str], uuid.UUID],
) -> tuple[int, int]:
    """Evaluate every project for `day` at the moment it is judged, record the lights that changed and emit the
    items the day did not have (`known`: the day as loaded before); the numbers of items and lights appended."""
    at = judged_at(day, rt.clock.now())
    async with rt.pool.acquire() as conn:
        results = await evaluate(conn, rt.schema, day, at=at)
    items: list[BaseModel] = []
    changed = 0
    for e in results:
        items.extend(items_for(day, e.project, e.situation, e.plan, e.rules.rules, e.light))
        light = RecordLight(e.project.id, day, e.light, e.rules.version, at, recorded_on=today(rt.clock))
        changed += _appended_here(await _record_light(rt, light, ctx, light_event_id(e.project.id)))
    # Items the day had when this run began (a run cut short by a restart, the day's run) need no further look.
    missing = [item for item in items if decide_item(known, item) is not None]
    emitted = sum([_appended_here(await _emit(rt, day, item, ctx)) for item in missing])
    return emitted, changed


async def reevaluate_light(rt: Runtime, project_id: str, day: date, context: Context, event_id: uuid.UUID) -> Outcome:
    """Evaluate one project as of `day` and record its light (with `event_id`) only if it differs from the light
    on record; `Outcome.appended` is False when there was nothing to do.

    For a reaction to a progress report, phase change or plan change: the caller passes an id derived from the
    source event, and should call once scheduling's read model has applied that event (the evaluation reads it).
    """
    at = judged_at(day, rt.clock.now())
    async with rt.pool.acquire() as conn:
        found = await evaluate(conn, rt.schema, day, project_ids=[project_id], at=at)
    if not found:
        raise not_found("project_id", "调度服务尚不知道该项目")
    [evaluation] = found
    light = RecordLight(project_id, day, evaluation.light, evaluation.rules.version, at, recorded_on=today(rt.clock))
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
