"""Daily monitoring and status lights, free of I/O: the day's and the light's state, and the decisions that may
find there is nothing to do (an item the day already has, a light that has not changed).

Exactly once per item and day: each day is an aggregate (`monitoring`, id d<date>) listing the items it has; a
decision on it returns None for an item already there, and every append carries a deterministic event id.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, Field

from services.scheduling.domain import PlanState, Recorded
from services.scheduling.lights import LightResult, Situation
from shared.catalogue import CATALOGUE
from shared.catalogue.intake import Phase
from shared.catalogue.scheduling import (
    MilestoneDueSoonFlagged,
    MilestoneOverdueFlagged,
    MonitoringCompleted,
    ReportOverdueFlagged,
    Rules,
    StatusLightChanged,
)

NAMESPACE = uuid.UUID("0c4b8f7e-2d7a-4c8e-9b1f-7a3e5d9c2b10")
ACTIVE = {Phase.PRELIMINARY.value, Phase.UNDER_CONSTRUCTION.value}


def day_id(day: date) -> str:
    return f"d{day:%Y%m%d}"


@dataclass(frozen=True)
class ProjectRow:
    """What monitoring and lights need to know of a project (from the project directory and intake's figures)."""

    id: str
    programme_id: str
    name: str
    category: str
    unit_id: str
    sponsor_leader_id: str | None
    phase: str
    planned_start: date
    annual_planned_investment: Decimal
    registered_on: date


# -- the monitoring day ------------------------------------------------------------------------------------------


class MonitoringDayState(BaseModel):
    day: str
    emitted: list[str] = Field(default_factory=list)  # item keys already emitted for this day
    completed: bool = False


def item_key(payload: BaseModel) -> str:
    """What makes a monitoring item unique within its day."""
    if isinstance(payload, MilestoneDueSoonFlagged):
        return f"due:{payload.plan_id}:{payload.milestone_id}"
    if isinstance(payload, MilestoneOverdueFlagged):
        return f"overdue:{payload.plan_id}:{payload.milestone_id}"
    if isinstance(payload, ReportOverdueFlagged):
        return f"report:{payload.project_id}"
    if isinstance(payload, MonitoringCompleted):
        return "completed"
    raise ValueError(f"not a monitoring item: {type(payload).__name__}")


def item_event_id(day: date, item: BaseModel) -> uuid.UUID:
    return uuid.uuid5(NAMESPACE, f"{day_id(day)}|{item_key(item)}")


def evolve_day(state: MonitoringDayState | None, event: Recorded) -> MonitoringDayState:
    env = event.envelope
    p = CATALOGUE.payload_of(event)
    s = state or MonitoringDayState(day=env.aggregate_id)
    return s.model_copy(
        update={"emitted": [*s.emitted, item_key(p)], "completed": s.completed or isinstance(p, MonitoringCompleted)}
    )


def decide_item(state: MonitoringDayState | None, item: BaseModel) -> BaseModel | None:
    """The item (a flag, or the day's completion), unless the day has it already."""
    if state is not None and item_key(item) in state.emitted:
        return None
    return item


def items_for(
    day: date, project: ProjectRow, situation: Situation, plan: PlanState | None, rules: Rules
) -> list[BaseModel]:
    """The monitoring items of one project on one day."""
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


# -- the light on record -----------------------------------------------------------------------------------------


class LightState(BaseModel):
    project_id: str
    current: StatusLightChanged | None = None


def evolve_light(state: LightState | None, event: Recorded) -> LightState:
    p = StatusLightChanged.model_validate(event.envelope.payload)
    return LightState(project_id=event.envelope.aggregate_id, current=p)


@dataclass(frozen=True)
class RecordLight:
    """A light as evaluated for one project on one day under one rule version."""

    project_id: str
    day: date
    light: LightResult
    rule_version: int
    recorded_on: date | None = None  # the platform's today at recording (None: the evaluated day)


def daily_light_event_id(project_id: str, day: date) -> uuid.UUID:
    """The daily run's id for a project's light on a day; a reaction passes ids of its own, so they never meet."""
    return uuid.uuid5(NAMESPACE, f"light|{project_id}|{day.isoformat()}")


def decide_light(state: LightState | None, cmd: RecordLight) -> StatusLightChanged | None:
    """Record the light when it has none yet, or its colour, a dimension's colour or the rule version changed.

    A re-evaluation on the day of the light on record is allowed (a report arrived since); a light for an earlier
    day than the one on record is stale and there is nothing to do. The reasons' day counts are as of `day`."""
    previous = state.current if state is not None else None
    if previous is not None and (cmd.day < previous.as_of or _signature(previous) == _signature(cmd)):
        return None
    light = cmd.light
    return StatusLightChanged(
        project_id=cmd.project_id, as_of=cmd.day, colour=light.colour,
        previous_colour=previous.colour if previous else None, milestones=light.milestones,
        investment=light.investment, reporting=light.reporting, issues=light.issues, spi=light.spi,
        points_behind=light.points_behind, rule_version=cmd.rule_version, exemptions_applied=light.exemptions_applied,
        recorded_on=cmd.recorded_on or cmd.day,
    )  # fmt: skip


def _signature(light: StatusLightChanged | RecordLight) -> tuple[object, ...]:
    if isinstance(light, RecordLight):
        found, version = light.light, light.rule_version
        issues = found.issues.colour
        return (found.colour, found.milestones.colour, found.investment.colour, found.reporting.colour, issues, version)
    issues_colour = light.issues.colour if light.issues is not None else None
    return (light.colour, light.milestones.colour, light.investment.colour, light.reporting.colour, issues_colour,
            light.rule_version)  # fmt: skip
