"""The intake domain, free of I/O: project state, `evolve` (state + event -> state) and `decide` functions.

The same `evolve` builds the read model and the state a command decides on, so the two cannot drift apart.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from decimal import Decimal

from pydantic import BaseModel, Field

from shared.catalogue import CATALOGUE
from shared.catalogue.intake import (
    Category,
    ConstructionType,
    MilestoneDone,
    Phase,
    ProgrammeRegistered,
    ProgressReported,
    ProjectDetailsAmended,
    ProjectPhaseChanged,
    ProjectRegistered,
    SponsorAssigned,
    SubProject,
    TaskForce,
    TaskForceAssigned,
)
from shared.eventstore import StoredEvent
from shared.problems import Problem, field_error

# 前期 -> 在建 -> 竣工 -> 投产, one step at a time; suspend / resume / cancel beside it.
NEXT_PHASE = {
    Phase.PRELIMINARY: Phase.UNDER_CONSTRUCTION,
    Phase.UNDER_CONSTRUCTION: Phase.COMPLETED,
    Phase.COMPLETED: Phase.IN_OPERATION,
}
SUSPENDABLE = {Phase.PRELIMINARY, Phase.UNDER_CONSTRUCTION}
CANCELLABLE = {Phase.PRELIMINARY, Phase.UNDER_CONSTRUCTION, Phase.SUSPENDED}


class ProgrammeState(BaseModel):
    id: str
    name: str
    year: int
    description: str
    demo: bool
    registered_at: datetime


class ProjectState(BaseModel):
    id: str
    programme_id: str
    code: str | None
    name: str
    category: Category
    unit_id: str
    sponsor_leader_id: str | None
    task_force: TaskForce | None
    location: str
    construction_content: str
    construction_type: ConstructionType
    total_investment: Decimal
    annual_planned_investment: Decimal
    planned_start: date
    planned_completion: date
    phase: Phase
    suspended_from: Phase | None = None
    sub_projects: list[SubProject] = Field(default_factory=list)
    demo: bool = False
    cumulative_investment: Decimal = Decimal(0)
    image_progress_pct: Decimal = Decimal(0)
    image_progress_text: str = ""
    last_report_period_end: date | None = None
    reports: int = 0
    milestones_done: list[MilestoneDone] = Field(default_factory=list)
    registered_at: datetime
    updated_at: datetime


def evolve_programme(state: ProgrammeState | None, event: StoredEvent) -> ProgrammeState:
    env = event.envelope
    payload = CATALOGUE.load_payload(env.type, env.schema_version, env.payload)
    if isinstance(payload, ProgrammeRegistered):
        return ProgrammeState(id=env.aggregate_id, registered_at=env.recorded_at, **payload.model_dump())
    if state is None:
        raise ValueError(f"{env.type} before ProgrammeRegistered for {env.aggregate_id}")
    return state


def evolve_project(state: ProjectState | None, event: StoredEvent) -> ProjectState:
    env = event.envelope
    payload = CATALOGUE.load_payload(env.type, env.schema_version, env.payload)
    if isinstance(payload, ProjectRegistered):
        if state is not None:
            raise ValueError(f"project {env.aggregate_id} registered twice")
        return ProjectState(
            id=env.aggregate_id,
            registered_at=env.recorded_at,
            updated_at=env.recorded_at,
            **payload.model_dump(),
        )
    if state is None:
        raise ValueError(f"{env.type} before ProjectRegistered for {env.aggregate_id}")
    changes: dict[str, object] = {"updated_at": env.recorded_at}
    if isinstance(payload, ProjectDetailsAmended):
        changes.update(payload.model_dump(exclude_none=True))
    elif isinstance(payload, TaskForceAssigned):
        changes["task_force"] = payload.task_force
    elif isinstance(payload, SponsorAssigned):
        changes["sponsor_leader_id"] = payload.sponsor_leader_id
    elif isinstance(payload, ProjectPhaseChanged):
        changes["phase"] = payload.to_phase
        changes["suspended_from"] = payload.from_phase if payload.to_phase == Phase.SUSPENDED else None
    elif isinstance(payload, ProgressReported):
        changes.update(
            cumulative_investment=payload.cumulative_investment,
            image_progress_pct=payload.image_progress_pct,
            image_progress_text=payload.image_progress_text,
            last_report_period_end=max(filter(None, [state.last_report_period_end, payload.period_end])),
            reports=state.reports + 1,
            milestones_done=[*state.milestones_done, *payload.milestones_done],
        )
    else:
        raise ValueError(f"intake cannot apply {env.type} to a project")
    return state.model_copy(update=changes)


Decide = Callable[[ProjectState | None], BaseModel]

# -- decisions ------------------------------------------------------------------------------------------------


def must_exist(state: ProjectState | None) -> ProjectState:
    if state is None:
        raise Problem(404, "项目不存在")
    return state


def decide_register(state: ProjectState | None, event: ProjectRegistered) -> ProjectRegistered:
    if state is not None:
        raise Problem(409, "项目已存在", errors=[{"field": "id", "reason": "project already registered"}])
    check_dates(event.planned_start, event.planned_completion)
    check_investments(event.total_investment, event.annual_planned_investment)
    return event


def decide_amend(state: ProjectState | None, event: ProjectDetailsAmended) -> ProjectDetailsAmended:
    project = must_exist(state)
    if not event.model_dump(exclude_none=True):
        raise Problem(422, "没有需要修改的字段", errors=[{"field": "body", "reason": "no field to change"}])
    if project.phase in {Phase.CANCELLED}:
        raise Problem(409, "已取消的项目不能修改")
    check_dates(event.planned_start or project.planned_start, event.planned_completion or project.planned_completion)
    check_investments(
        event.total_investment if event.total_investment is not None else project.total_investment,
        event.annual_planned_investment
        if event.annual_planned_investment is not None
        else project.annual_planned_investment,
    )
    return event


def decide_phase(state: ProjectState | None, to_phase: Phase, reason: str) -> ProjectPhaseChanged:
    project = must_exist(state)
    current = project.phase
    allowed = allowed_phases(project)
    if to_phase not in allowed:
        names = "、".join(p.value for p in sorted(allowed)) or "无"
        raise field_error("phase", f"cannot go from {current.value} to {to_phase.value}; allowed: {names}", 409)
    return ProjectPhaseChanged(from_phase=current, to_phase=to_phase, reason=reason)


def allowed_phases(project: ProjectState) -> set[Phase]:
    current = project.phase
    allowed: set[Phase] = set()
    if current in NEXT_PHASE:
        allowed.add(NEXT_PHASE[current])
    if current in SUSPENDABLE:
        allowed.add(Phase.SUSPENDED)
    if current in CANCELLABLE:
        allowed.add(Phase.CANCELLED)
    if current == Phase.SUSPENDED and project.suspended_from is not None:
        allowed.add(project.suspended_from)  # resume where it stopped
    return allowed


def decide_progress(
    state: ProjectState | None,
    *,
    report_id: str,
    period_start: date,
    period_end: date,
    investment_this_period: Decimal,
    image_progress_pct: Decimal,
    image_progress_text: str,
    milestones_done: list[MilestoneDone],
) -> ProgressReported:
    project = must_exist(state)
    if project.phase in {Phase.CANCELLED}:
        raise Problem(409, "已取消的项目不能填报进度")
    if period_end < period_start:
        raise field_error("period_end", "must not be before period_start")
    for i, milestone in enumerate(milestones_done):
        if milestone.done_on > period_end:
            raise field_error(f"milestones_done.{i}.done_on", "must not be after period_end")
    return ProgressReported(
        report_id=report_id,
        period_start=period_start,
        period_end=period_end,
        investment_this_period=investment_this_period,
        cumulative_investment=project.cumulative_investment + investment_this_period,
        image_progress_pct=image_progress_pct,
        image_progress_text=image_progress_text,
        milestones_done=milestones_done,
    )


def check_dates(start: date, completion: date) -> None:
    if completion < start:
        raise field_error("planned_completion", "must not be before planned_start")


def check_investments(total: Decimal, annual: Decimal) -> None:
    if annual > total:
        raise field_error("annual_planned_investment", "must not exceed total_investment")
