"""The intake domain, free of I/O: states, `evolve` (state + event -> state) and `decide_x(state, cmd) -> event`.

- The same `evolve` builds the read model and the state a command decides on, so the two cannot drift apart. It
  dispatches through a table `event type -> change`, one per aggregate.
- A decision returns the event to append or raises a `shared.domain_errors` kind; the edge turns that into
  problem+json naming the field. What a decision cannot derive itself (a new report id, a token's digest) the
  handler makes and passes in: the domain does no I/O and draws no random numbers.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import date, datetime
from decimal import Decimal
from typing import Any, TypeVar

from pydantic import BaseModel, Field

from services.intake.commands import (
    AmendProject,
    AssignSponsor,
    AssignTaskForce,
    ChangePhase,
    RegisterProgramme,
    RegisterProject,
)
from services.intake.periods import Span, covered
from shared.catalogue import CATALOGUE
from shared.catalogue.intake import (
    Category,
    ConstructionType,
    MilestoneDone,
    Phase,
    ProgrammeRegistered,
    ProgressReportAccepted,
    ProgressReportCorrected,
    ProgressReported,
    ProgressReportReturned,
    ProjectDetailsAmended,
    ProjectPhaseChanged,
    ProjectRegistered,
    SponsorAssigned,
    SubProject,
    TaskForce,
    TaskForceAssigned,
)
from shared.domain_errors import Conflict, Invalid, NotFound
from shared.envelope import Envelope

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
    district: str | None = None
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
    investment_completed_before: Decimal = Decimal(0)  # 续建: completed in earlier years
    # 累计完成投资: the investment completed before this year (续建) plus the reports hq accepted, each at its latest
    # accepted figure (plus, for reports recorded before the review existed, every report as it came).
    cumulative_investment: Decimal = Decimal(0)
    # Every report at its latest figure, whether accepted, awaiting review or returned: what a unit has claimed.
    reported_investment: Decimal = Decimal(0)
    # The days the reports cover, merged (periods.py): a new report's period may not overlap them.
    periods: list[Span] = Field(default_factory=list)
    image_progress_pct: Decimal = Decimal(0)
    image_progress_text: str = ""
    last_report_period_end: date | None = None
    reports: int = 0
    milestones_done: list[MilestoneDone] = Field(default_factory=list)
    registered_at: datetime
    updated_at: datetime


# -- evolve -------------------------------------------------------------------------------------------------

S = TypeVar("S", bound=BaseModel)
# How an event after the first changes an aggregate's state: the fields it sets (payload types as registered).
Changes = Mapping[type[BaseModel], Callable[[S, Any], dict[str, object]]]


def fold(
    state: S | None,
    envelope: Envelope,
    create: Callable[[Any], S],
    first: type[BaseModel],
    changes: Changes[S],
    payload: BaseModel | None = None,
    touched: Mapping[str, object] | None = None,
) -> S:
    """One event into an aggregate's state: `first` creates it, every later event is looked up in `changes`.
    `payload` is the envelope's payload when the caller has already validated it (a projection's checked events).
    `touched`: fields every later event sets besides its change (when it was updated), in the same copy."""
    if payload is None:
        payload = CATALOGUE.load_payload(envelope.type, envelope.schema_version, envelope.payload)
    if state is None:
        if not isinstance(payload, first):
            raise ValueError(f"{envelope.type} before {first.__name__} for {envelope.aggregate_id}")
        return create(payload)
    change = changes.get(type(payload))
    if change is None:
        raise ValueError(f"cannot apply {envelope.type} to {envelope.aggregate_type} {envelope.aggregate_id}")
    update = change(state, payload)
    return state.model_copy(update={**update, **touched} if touched else update)


# What an event records about itself rather than about the project (the approved change request it applies).
NOT_PROJECT_FIELDS = frozenset({"change_request_id"})


def _set_fields(payload: BaseModel) -> dict[str, object]:
    """The fields an amendment carries (absent means unchanged), as the typed values, not dumped dicts."""
    return {
        name: value
        for name in type(payload).model_fields
        if name not in NOT_PROJECT_FIELDS and (value := getattr(payload, name)) is not None
    }


def _progress_reported(state: ProjectState, p: ProgressReported) -> dict[str, object]:
    return {
        # A report recorded before the review existed counted at once, with the cumulative it carries.
        "cumulative_investment": state.cumulative_investment if p.awaiting_review else p.cumulative_investment,
        "reported_investment": state.reported_investment + p.investment_this_period,
        "periods": covered(state.periods, p.period_start, p.period_end),
        "image_progress_pct": p.image_progress_pct,
        "image_progress_text": p.image_progress_text,
        "last_report_period_end": max(filter(None, [state.last_report_period_end, p.period_end])),
        "reports": state.reports + 1,
        "milestones_done": [*state.milestones_done, *p.milestones_done],
    }


def _report_corrected(state: ProjectState, p: ProgressReportCorrected) -> dict[str, object]:
    return {
        "reported_investment": state.reported_investment - p.investment_before + p.investment_this_period,
        "milestones_done": [*state.milestones_done, *p.milestones_done],
    }


def _report_accepted(state: ProjectState, p: ProgressReportAccepted) -> dict[str, object]:
    change = p.investment_accepted - p.investment_previously_accepted
    return {"cumulative_investment": state.cumulative_investment + change}


PROJECT_CHANGES: Changes[ProjectState] = {
    ProjectDetailsAmended: lambda _, p: _set_fields(p),
    TaskForceAssigned: lambda _, p: {"task_force": p.task_force},
    SponsorAssigned: lambda _, p: {"sponsor_leader_id": p.sponsor_leader_id},
    ProjectPhaseChanged: lambda _, p: {
        "phase": p.to_phase,
        "suspended_from": p.from_phase if p.to_phase == Phase.SUSPENDED else None,
    },
    ProgressReported: _progress_reported,
    ProgressReportCorrected: _report_corrected,
    ProgressReportAccepted: _report_accepted,
    ProgressReportReturned: lambda _, p: {},
}


def evolve_programme(
    state: ProgrammeState | None, envelope: Envelope, payload: BaseModel | None = None
) -> ProgrammeState:
    def create(p: ProgrammeRegistered) -> ProgrammeState:
        return ProgrammeState(id=envelope.aggregate_id, registered_at=envelope.recorded_at, **p.model_dump())

    return fold(state, envelope, create, ProgrammeRegistered, {}, payload)


def evolve_project(state: ProjectState | None, envelope: Envelope, payload: BaseModel | None = None) -> ProjectState:
    def create(p: ProjectRegistered) -> ProjectState:
        at = envelope.recorded_at
        # A continuing project's ledger starts at what it completed in earlier years (累计完成投资).
        cumulative = p.investment_completed_before
        return ProjectState(
            id=envelope.aggregate_id,
            registered_at=at,
            updated_at=at,
            cumulative_investment=cumulative,
            reported_investment=cumulative,
            **dict(p),
        )

    # One copy per event: the fold's copy sets `updated_at` too (a second copy was ~2% of a rebuild's CPU).
    return fold(
        state, envelope, create, ProjectRegistered, PROJECT_CHANGES, payload, {"updated_at": envelope.recorded_at}
    )


# -- decisions: programmes and projects -----------------------------------------------------------------------


def must_exist(state: ProjectState | None) -> ProjectState:
    if state is None:
        raise NotFound("项目不存在", field="project_id", reason="项目不存在")
    return state


def decide_register_programme(state: ProgrammeState | None, cmd: RegisterProgramme) -> ProgrammeRegistered:
    if state is not None:
        raise Conflict("年度重点项目批次已存在", field="id", reason="年度重点项目批次已存在")
    return ProgrammeRegistered(**cmd.model_dump(exclude={"id"}))


def decide_register_project(state: ProjectState | None, cmd: RegisterProject) -> ProjectRegistered:
    if state is not None:
        raise Conflict("项目已存在", field="id", reason="项目已登记")
    check_dates(cmd.planned_start, cmd.planned_completion)
    check_investments(cmd.total_investment, cmd.annual_planned_investment)
    continuing = cmd.construction_type == ConstructionType.CONTINUING
    if cmd.investment_completed_before > 0 and not continuing:
        raise Invalid("新建项目没有以前年度完成投资", field="investment_completed_before", reason="仅续建项目可填写")
    if cmd.investment_completed_before + cmd.annual_planned_investment > cmd.total_investment:
        raise Invalid(
            "以前年度完成投资与年度计划投资之和超过总投资",
            field="investment_completed_before",
            reason="与 annual_planned_investment 之和不能超过 total_investment",
        )
    # A continuing project (续建) is under construction already: it registers as 在建, not 前期.
    phase = Phase.UNDER_CONSTRUCTION if continuing else Phase.PRELIMINARY
    return ProjectRegistered(**cmd.model_dump(exclude={"id"}), phase=phase)


def decide_amend_project(state: ProjectState | None, cmd: AmendProject) -> ProjectDetailsAmended:
    project = must_exist(state)
    event = ProjectDetailsAmended(**cmd.model_dump(exclude_unset=True, exclude={"project_id"}))
    if not _set_fields(event):
        raise Invalid("没有需要修改的字段", field="body", reason="没有需要修改的字段")
    if project.phase == Phase.CANCELLED:
        raise Conflict("已取消的项目不能修改", field="phase", reason="项目已取消")
    check_dates(event.planned_start or project.planned_start, event.planned_completion or project.planned_completion)
    check_investments(
        project.total_investment if event.total_investment is None else event.total_investment,
        project.annual_planned_investment
        if event.annual_planned_investment is None
        else event.annual_planned_investment,
    )
    return event


def decide_assign_task_force(state: ProjectState | None, cmd: AssignTaskForce) -> TaskForceAssigned:
    must_exist(state)
    return TaskForceAssigned(task_force=cmd.task_force)


def decide_assign_sponsor(state: ProjectState | None, cmd: AssignSponsor) -> SponsorAssigned:
    must_exist(state)
    return SponsorAssigned(sponsor_leader_id=cmd.sponsor_leader_id)


def decide_change_phase(state: ProjectState | None, cmd: ChangePhase) -> ProjectPhaseChanged:
    project = must_exist(state)
    allowed = allowed_phases(project)
    if cmd.phase not in allowed:
        names = "、".join(p.value for p in sorted(allowed)) or "无"
        raise Conflict(
            f"项目不能从 {project.phase.value} 变更为 {cmd.phase.value}(可变更为:{names})",
            field="phase",
            reason=f"不能从 {project.phase.value} 变更为 {cmd.phase.value},可变更为:{names}",
        )
    return ProjectPhaseChanged(from_phase=project.phase, to_phase=cmd.phase, reason=cmd.reason)


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


def check_dates(start: date, completion: date) -> None:
    if completion < start:
        raise Invalid("计划竣工日期早于计划开工日期", field="planned_completion", reason="不能早于 planned_start")


def check_investments(total: Decimal, annual: Decimal) -> None:
    if annual > total:
        raise Invalid("年度计划投资超过总投资", field="annual_planned_investment", reason="不能超过 total_investment")
