"""Daily monitoring (日监测): what became due soon, overdue or late to report, and lights that changed.

Exactly once per item and day across replicas and restarts: each day is an aggregate (`monitoring`, id d<date>)
whose state lists the items already emitted; every append is guarded by the day's expected sequence and carries a
deterministic event id, so a replica that lost a race reloads, sees the item and moves on.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date
from typing import Any

from pydantic import BaseModel

from services.scheduling.domain import PlanState
from services.scheduling.evaluation import ProjectRow, evaluate
from services.scheduling.lights import LightResult, Situation
from services.scheduling.read_model import LIGHTS, MONITORING_DAYS, LightState, MonitoringDayState, item_key
from shared.catalogue.intake import Phase
from shared.catalogue.scheduling import (
    MilestoneDueSoonFlagged,
    MilestoneOverdueFlagged,
    MonitoringCompleted,
    ReportOverdueFlagged,
    Rules,
    RuleVersionPublished,
    StatusLightChanged,
)
from shared.commands import load
from shared.eventstore import ConcurrencyConflict, Context
from shared.runtime import Runtime

NAMESPACE = uuid.UUID("0c4b8f7e-2d7a-4c8e-9b1f-7a3e5d9c2b10")
ACTIVE = {Phase.PRELIMINARY.value, Phase.UNDER_CONSTRUCTION.value}


def day_id(day: date) -> str:
    return f"d{day:%Y%m%d}"


def items_for(
    day: date, project: ProjectRow, situation: Situation, plan: PlanState | None, rules: Rules
) -> list[BaseModel]:
    """The monitoring items of one project on one day (pure)."""
    if project.phase not in ACTIVE:
        return []
    items: list[BaseModel] = []
    for m in situation.milestones:
        if m.done_on is not None or plan is None:
            continue
        left = (m.planned_date - day).days
        unit = next((x.unit_id for x in plan.milestones if x.milestone_id == m.milestone_id), project.unit_id)
        common: dict[str, Any] = {
            "day": day, "project_id": project.id, "plan_id": plan.id, "milestone_id": m.milestone_id,
            "name": m.name, "due": m.planned_date, "unit_id": unit,
        }  # fmt: skip
        if left in rules.warning_days:
            items.append(MilestoneDueSoonFlagged(**common, days_left=left))
        elif left < 0:
            items.append(MilestoneOverdueFlagged(**common, days_overdue=-left))
    reported = [r.period_end for r in situation.reports]
    since = max(reported) if reported else situation.registered_on
    if since is not None and (day - since).days > rules.report_late_yellow_days:
        items.append(
            ReportOverdueFlagged(
                day=day, project_id=project.id, unit_id=project.unit_id,
                last_period_end=max(reported) if reported else None, days_since=(day - since).days,
            )
        )  # fmt: skip
    return items


@dataclass
class RunResult:
    day: date
    items_emitted: int
    lights_changed: int
    already_complete: bool


async def run_monitoring(rt: Runtime, day: date, ctx: Context) -> RunResult:
    """Evaluate every project for `day`; safe to run concurrently on every replica and to repeat."""
    loaded = await load(rt.pool, rt.store, rt.schema, MONITORING_DAYS, day_id(day))
    if loaded.state is not None and loaded.state.completed:
        return RunResult(day, 0, 0, already_complete=True)
    async with rt.pool.acquire() as conn:
        results = await evaluate(conn, rt.schema, day)
    items: list[BaseModel] = []
    changed = 0
    for e in results:
        items.extend(items_for(day, e.project, e.situation, e.plan, e.rules.rules))
        changed += await _record_light(rt, day, e.project, e.light, e.rules, ctx)
    emitted = await _emit_once(rt, day, items, ctx)
    await _emit_once(rt, day, [MonitoringCompleted(day=day, items=emitted, lights_changed=changed)], ctx)
    return RunResult(day, emitted, changed, already_complete=False)


async def _emit_once(rt: Runtime, day: date, items: list[BaseModel], ctx: Context) -> int:
    """Append each item unless the day already has it; returns how many this call appended."""
    loaded = await load(rt.pool, rt.store, rt.schema, MONITORING_DAYS, day_id(day))
    state, position = loaded.state or MonitoringDayState(day=day_id(day)), loaded.position
    emitted = 0
    for item in items:
        key = item_key(item)
        while key not in state.emitted:
            event_id = uuid.uuid5(NAMESPACE, f"{day_id(day)}|{key}")
            try:
                stored = await rt.store.append(
                    "monitoring", day_id(day), item, expected=position, context=ctx, event_id=event_id
                )
            except ConcurrencyConflict:
                # Another replica appended to this day: catch up and look again.
                loaded = await load(rt.pool, rt.store, rt.schema, MONITORING_DAYS, day_id(day))
                state, position = loaded.state or state, loaded.position
                continue
            state = MONITORING_DAYS.evolve(state, stored)
            position = position.after(stored)
            emitted += 1
    return emitted


async def _record_light(
    rt: Runtime, day: date, project: ProjectRow, light: LightResult, rules: RuleVersionPublished, ctx: Context
) -> int:
    """Record the light when its colour, a dimension's colour or the rule version changed (or it has none yet).

    The event carries the reasons as of that day; day counts in them are as of its `as_of`."""
    while True:
        loaded = await load(rt.pool, rt.store, rt.schema, LIGHTS, project.id)
        state = loaded.state or LightState(project_id=project.id)
        previous = state.current
        if previous is not None and (previous.as_of >= day or _signature(previous) == _signature(light, rules.version)):
            return 0
        event = StatusLightChanged(
            project_id=project.id, as_of=day, colour=light.colour,
            previous_colour=previous.colour if previous else None, milestones=light.milestones,
            investment=light.investment, reporting=light.reporting, issues=light.issues, spi=light.spi,
            points_behind=light.points_behind, rule_version=rules.version, exemptions_applied=light.exemptions_applied,
        )  # fmt: skip
        event_id = uuid.uuid5(NAMESPACE, f"light|{project.id}|{day.isoformat()}")
        try:
            await rt.store.append("light", project.id, event, expected=loaded.position, context=ctx, event_id=event_id)
            return 1
        except ConcurrencyConflict:
            continue


def _signature(light: StatusLightChanged | LightResult, rule_version: int | None = None) -> tuple[object, ...]:
    version = light.rule_version if isinstance(light, StatusLightChanged) else rule_version
    issues = light.issues.colour if light.issues is not None else None
    return (light.colour, light.milestones.colour, light.investment.colour, light.reporting.colour, issues, version)
