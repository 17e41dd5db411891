"""The scheduling domain, free of I/O: plan and meeting state, `evolve`, and the decisions on commands."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from decimal import Decimal

from pydantic import BaseModel, Field

from shared.catalogue import CATALOGUE
from shared.catalogue.scheduling import (
    AgendaItem,
    Attendee,
    DispatchMeetingScheduled,
    ExemptionApproved,
    ExemptionRejected,
    ExemptionRequested,
    ExemptionScope,
    MeetingAttendanceRecorded,
    MeetingDecisionRecorded,
    MeetingKind,
    MeetingMinutesRecorded,
    Milestone,
    MilestoneCompleted,
    MilestoneRebaselined,
    PlanBaselineApproved,
    PlanDrafted,
    PlanRevised,
    Rules,
    RuleVersionPublished,
)
from shared.eventstore import StoredEvent
from shared.problems import Problem, field_error


def plan_id_for(project_id: str, year: int) -> str:
    return f"{project_id}-y{year}"


class MilestoneState(Milestone):
    baseline_date: date | None = None
    done_on: date | None = None
    rebaselines: list[MilestoneRebaselined] = Field(default_factory=list)


class ExemptionState(ExemptionRequested):
    status: str = "requested"  # requested | approved | rejected
    decided_note: str = ""
    requested_by: str = ""


class PlanState(BaseModel):
    id: str
    project_id: str
    year: int
    annual_target_investment: Decimal
    yearly_targets: str
    monthly_investment: list[Decimal]
    milestones: list[MilestoneState]
    baselined: bool = False
    baseline_monthly_investment: list[Decimal] | None = None
    exemptions: list[ExemptionState] = Field(default_factory=list)
    drafted_by: str
    updated_at: datetime

    def milestone(self, milestone_id: str) -> MilestoneState | None:
        return next((m for m in self.milestones if m.milestone_id == milestone_id), None)

    def exemption(self, exemption_id: str) -> ExemptionState | None:
        return next((e for e in self.exemptions if e.exemption_id == exemption_id), None)


def evolve_plan(state: PlanState | None, event: StoredEvent) -> PlanState:
    env = event.envelope
    p = CATALOGUE.load_payload(env.type, env.schema_version, env.payload)
    if isinstance(p, PlanDrafted):
        return PlanState(
            id=env.aggregate_id,
            project_id=p.project_id,
            year=p.year,
            annual_target_investment=p.annual_target_investment,
            yearly_targets=p.yearly_targets,
            monthly_investment=p.monthly_investment,
            milestones=[MilestoneState(**m.model_dump()) for m in p.milestones],
            drafted_by=env.actor.org_id,
            updated_at=env.recorded_at,
        )
    if state is None:
        raise ValueError(f"{env.type} before PlanDrafted for {env.aggregate_id}")
    s = state.model_copy(deep=True, update={"updated_at": env.recorded_at})
    if isinstance(p, PlanRevised):
        s.annual_target_investment = p.annual_target_investment
        s.yearly_targets = p.yearly_targets
        s.monthly_investment = p.monthly_investment
        s.milestones = [MilestoneState(**m.model_dump()) for m in p.milestones]
    elif isinstance(p, PlanBaselineApproved):
        s.baselined = True
        s.baseline_monthly_investment = p.monthly_investment
        for m in s.milestones:
            m.baseline_date = p.milestone_dates.get(m.milestone_id, m.planned_date)
    elif isinstance(p, MilestoneRebaselined):
        m = _milestone(s, p.milestone_id)
        m.planned_date = p.to_date
        m.rebaselines.append(p)
    elif isinstance(p, MilestoneCompleted):
        _milestone(s, p.milestone_id).done_on = p.done_on
    elif isinstance(p, ExemptionRequested):
        s.exemptions.append(ExemptionState(**p.model_dump(), requested_by=env.actor.org_id))
    elif isinstance(p, ExemptionApproved | ExemptionRejected):
        e = s.exemption(p.exemption_id)
        if e is None:
            raise ValueError(f"unknown exemption {p.exemption_id}")
        e.status = "approved" if isinstance(p, ExemptionApproved) else "rejected"
        e.decided_note = p.note
    else:
        raise ValueError(f"cannot apply {env.type} to a plan")
    return s


def _milestone(state: PlanState, milestone_id: str) -> MilestoneState:
    m = state.milestone(milestone_id)
    if m is None:
        raise ValueError(f"unknown milestone {milestone_id}")
    return m


# -- plan decisions --------------------------------------------------------------------------------------------


def must_exist(state: PlanState | None) -> PlanState:
    if state is None:
        raise Problem(404, "实施方案不存在")
    return state


def check_plan_content(year: int, annual: Decimal, monthly: list[Decimal], milestones: list[Milestone]) -> None:
    if sum(monthly, Decimal(0)) > annual:
        raise field_error("monthly_investment", "monthly plans add up to more than annual_target_investment")
    seen: set[str] = set()
    for i, m in enumerate(milestones):
        if m.milestone_id in seen:
            raise field_error(f"milestones.{i}.milestone_id", "duplicate milestone id")
        seen.add(m.milestone_id)
        if not (date(year - 1, 1, 1) <= m.planned_date <= date(year + 5, 12, 31)):
            raise field_error(f"milestones.{i}.planned_date", f"must lie near the plan year {year}")


def decide_draft(state: PlanState | None, event: PlanDrafted) -> PlanDrafted:
    if state is not None:
        raise field_error("year", "this project already has a plan for this year", 409)
    check_plan_content(event.year, event.annual_target_investment, event.monthly_investment, event.milestones)
    return event


def decide_revise(state: PlanState | None, event: PlanRevised) -> PlanRevised:
    plan = must_exist(state)
    if plan.baselined:
        raise Problem(409, "方案已批准为基准,修改节点日期须走重新基准(rebaseline)并说明理由")
    check_plan_content(plan.year, event.annual_target_investment, event.monthly_investment, event.milestones)
    return event


def decide_baseline(state: PlanState | None, note: str) -> PlanBaselineApproved:
    plan = must_exist(state)
    if plan.baselined:
        raise Problem(409, "方案已是基准版本")
    if not plan.milestones:
        raise field_error("milestones", "a plan needs milestones before it can be baselined")
    return PlanBaselineApproved(
        milestone_dates={m.milestone_id: m.planned_date for m in plan.milestones},
        monthly_investment=plan.monthly_investment,
        note=note,
    )


def decide_rebaseline(state: PlanState | None, milestone_id: str, to_date: date, reason: str) -> MilestoneRebaselined:
    plan = must_exist(state)
    m = plan.milestone(milestone_id)
    if m is None:
        raise Problem(404, "节点不存在")
    if not plan.baselined:
        raise Problem(409, "方案尚未批准基准,可直接修订草案")
    if m.done_on is not None:
        raise Problem(409, "节点已完成,不能调整日期")
    if to_date == m.planned_date:
        raise field_error("to_date", "is the current planned date already")
    return MilestoneRebaselined(milestone_id=milestone_id, from_date=m.planned_date, to_date=to_date, reason=reason)


def decide_complete(state: PlanState | None, milestone_id: str, done_on: date, today: date) -> MilestoneCompleted:
    plan = must_exist(state)
    m = plan.milestone(milestone_id)
    if m is None:
        raise Problem(404, "节点不存在")
    if m.done_on is not None:
        raise Problem(409, f"节点已于 {m.done_on.isoformat()} 完成")
    if done_on > today:
        raise field_error("done_on", "cannot be in the future")
    return MilestoneCompleted(milestone_id=milestone_id, done_on=done_on)


def decide_request_exemption(state: PlanState | None, request: ExemptionRequested) -> ExemptionRequested:
    plan = must_exist(state)
    if request.scope == ExemptionScope.MILESTONE:
        if request.milestone_id is None or plan.milestone(request.milestone_id) is None:
            raise field_error("milestone_id", "must name a milestone of this plan")
    else:
        if request.period_start is None or request.period_end is None:
            raise field_error("period_start", "a period exemption needs period_start and period_end")
        if request.period_end < request.period_start:
            raise field_error("period_end", "must not be before period_start")
    if not request.evidence:
        raise field_error("evidence", "an exemption needs evidence (document references or descriptions)")
    return request


def decide_exemption(state: PlanState | None, exemption_id: str, approve: bool, note: str) -> BaseModel:
    plan = must_exist(state)
    e = plan.exemption(exemption_id)
    if e is None:
        raise Problem(404, "豁免申请不存在")
    if e.status != "requested":
        raise Problem(409, f"豁免申请已{'批准' if e.status == 'approved' else '驳回'}")
    return (
        ExemptionApproved(exemption_id=exemption_id, note=note)
        if approve
        else ExemptionRejected(exemption_id=exemption_id, note=note)
    )


# -- rules -----------------------------------------------------------------------------------------------------


class RuleSetState(BaseModel):
    versions: list[RuleVersionPublished] = Field(default_factory=list)

    def applicable(self, day: date) -> RuleVersionPublished | None:
        candidates = [v for v in self.versions if v.effective_from <= day]
        return max(candidates, key=lambda v: (v.effective_from, v.version)) if candidates else None

    def get(self, version: int) -> RuleVersionPublished | None:
        return next((v for v in self.versions if v.version == version), None)


def evolve_rule_set(state: RuleSetState | None, event: StoredEvent) -> RuleSetState:
    env = event.envelope
    p = CATALOGUE.load_payload(env.type, env.schema_version, env.payload)
    assert isinstance(p, RuleVersionPublished)
    return RuleSetState(versions=[*(state.versions if state else []), p])


def decide_publish_rules(
    state: RuleSetState | None, effective_from: date, rules: Rules, note: str
) -> RuleVersionPublished:
    versions = state.versions if state else []
    if rules.red_points_behind < rules.yellow_points_behind:
        raise field_error("rules.red_points_behind", "must not be below yellow_points_behind")
    if rules.late_start_red_months < rules.late_start_yellow_months:
        raise field_error("rules.late_start_red_months", "must not be below late_start_yellow_months")
    if rules.report_late_red_days < rules.report_late_yellow_days:
        raise field_error("rules.report_late_red_days", "must not be below report_late_yellow_days")
    return RuleVersionPublished(version=len(versions) + 1, effective_from=effective_from, rules=rules, note=note)


# -- dispatch meetings -----------------------------------------------------------------------------------------


class MeetingState(BaseModel):
    id: str
    kind: MeetingKind
    title: str
    scheduled_for: datetime
    programme_id: str
    unit_id: str | None
    chair_id: str | None
    agenda: list[AgendaItem]
    agenda_as_of: date
    attendees: list[Attendee] = Field(default_factory=list)
    minutes: str = ""
    decisions: list[MeetingDecisionRecorded] = Field(default_factory=list)


def evolve_meeting(state: MeetingState | None, event: StoredEvent) -> MeetingState:
    env = event.envelope
    p = CATALOGUE.load_payload(env.type, env.schema_version, env.payload)
    if isinstance(p, DispatchMeetingScheduled):
        return MeetingState(id=env.aggregate_id, **p.model_dump())
    if state is None:
        raise ValueError(f"{env.type} before DispatchMeetingScheduled")
    if isinstance(p, MeetingAttendanceRecorded):
        return state.model_copy(update={"attendees": p.attendees})
    if isinstance(p, MeetingMinutesRecorded):
        return state.model_copy(update={"minutes": p.minutes})
    if isinstance(p, MeetingDecisionRecorded):
        return state.model_copy(update={"decisions": [*state.decisions, p]})
    raise ValueError(f"cannot apply {env.type} to a meeting")


def meeting_must_exist(state: MeetingState | None) -> MeetingState:
    if state is None:
        raise Problem(404, "调度会不存在")
    return state


Decide = Callable[[PlanState | None], BaseModel]
