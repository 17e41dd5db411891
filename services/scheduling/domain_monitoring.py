"""Daily monitoring and status lights, free of I/O: the day's and the light's state, and the decisions that may
find there is nothing to do (an item the day already has, a light that has not changed).

Exactly once per item and day: each day is an aggregate (`monitoring`, id d<date>) listing the items it has; a
decision on it returns None for an item already there, and every append carries a deterministic event id.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, Field

from services.scheduling.domain import PlanState, Recorded
from services.scheduling.lights import LightResult, Situation
from shared.catalogue import CATALOGUE
from shared.catalogue.intake import Phase
from shared.catalogue.scheduling import (
    Colour,
    DimensionLight,
    MilestoneDueSoonFlagged,
    MilestoneOverdueFlagged,
    MonitoringCompleted,
    ReportOverdueFlagged,
    ReportWeekStatus,
    Rules,
    StatusLightChanged,
)

NAMESPACE = uuid.UUID("0c4b8f7e-2d7a-4c8e-9b1f-7a3e5d9c2b10")
# Monitored phases: a completed project (竣工) is watched until it is in operation (投产).
ACTIVE = {Phase.PRELIMINARY.value, Phase.UNDER_CONSTRUCTION.value, Phase.COMPLETED.value}


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
    day: date, project: ProjectRow, situation: Situation, plan: PlanState | None, rules: Rules, light: LightResult
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
    missing = [w for w in light.report_weeks if w.status == ReportWeekStatus.MISSING]
    if missing and missing[-1] == light.report_weeks[-1]:
        # The newest week whose deadline has passed has no report: the unit hears of it once a day.
        reported = [r.period_end for r in situation.reports]
        since = max(reported) if reported else situation.registered_on or date(day.year, 1, 1)
        items.append(
            ReportOverdueFlagged(
                day=day, project_id=project.id, unit_id=project.unit_id,
                last_period_end=max(reported) if reported else None, days_since=(day - since).days,
                week=missing[-1].week, deadline=missing[-1].deadline, weeks_missing=len(missing),
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
    evaluated_at: datetime | None = None
    recorded_on: date | None = None  # the platform's today at recording (None: the evaluated day)


def daily_light_event_id(project_id: str, day: date) -> uuid.UUID:
    """The daily run's id for a project's light on a day; a reaction passes ids of its own, so they never meet."""
    return uuid.uuid5(NAMESPACE, f"light|{project_id}|{day.isoformat()}")


def rerun_light_event_id(project_id: str, day: date, run_id: uuid.UUID) -> uuid.UUID:
    """The id of a project's light recorded by one run-now of hq on a day (distinct from the day's run)."""
    return uuid.uuid5(NAMESPACE, f"light|{project_id}|{day.isoformat()}|run|{run_id}")


def decide_light(state: LightState | None, cmd: RecordLight) -> StatusLightChanged | None:
    """Record the light when it has none yet, or its colour, a dimension's colour or reasons, or the rule version
    changed: what is on record always says what the platform shows (a gap that grew is re-recorded in its words).

    A re-evaluation on the day of the light on record is allowed (a report arrived since); a light for an earlier
    day than the one on record is stale and there is nothing to do. So the light as shown on a day D is the last
    one recorded with `as_of` <= D. The reasons' day counts are as of `day`."""
    previous = state.current if state is not None else None
    light = cmd.light
    dimensions = (light.milestones, light.investment, light.reporting, light.issues)
    if previous is not None and (
        cmd.day < previous.as_of or _signature(previous) == _signature_of(light.colour, dimensions, cmd.rule_version)
    ):
        return None
    return StatusLightChanged(
        project_id=cmd.project_id, as_of=cmd.day, colour=light.colour,
        previous_colour=previous.colour if previous else None, milestones=light.milestones,
        investment=light.investment, reporting=light.reporting, issues=light.issues, spi=light.spi,
        points_behind=light.points_behind, rule_version=cmd.rule_version, exemptions_applied=light.exemptions_applied,
        investment_completion_pct=light.completion_pct, time_progress_pct=light.time_progress_pct,
        report_weeks=light.report_weeks, evaluated_at=cmd.evaluated_at, recorded_on=cmd.recorded_on or cmd.day,
    )  # fmt: skip


def _signature_of(colour: Colour, dimensions: tuple[DimensionLight | None, ...], version: int) -> tuple[object, ...]:
    return (
        colour,
        tuple((d.colour, tuple(d.reasons)) if d is not None else None for d in dimensions),
        version,
    )


def _signature(light: StatusLightChanged) -> tuple[object, ...]:
    dimensions = (light.milestones, light.investment, light.reporting, light.issues)
    return _signature_of(light.colour, dimensions, light.rule_version)
