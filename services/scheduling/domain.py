"""The scheduling domain, free of I/O: plan state, `evolve_plan`, and the decisions on plan commands.

Every decision is `decide_x(state, cmd) -> event` (None: nothing to do); what the domain refuses it raises as a
`shared.domain_errors` kind, which the edge maps to problem+json. The other aggregates' decisions are beside it,
equally pure: `domain_rules` (rule versions), `domain_meetings` (dispatch meetings) and `domain_monitoring`
(monitoring days and lights).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Protocol

from pydantic import BaseModel, Field

from services.scheduling.commands import (
    ApproveBaseline,
    CompleteMilestone,
    DecideExemption,
    DraftPlan,
    Rebaseline,
    RequestExemption,
    ReviseDraft,
)
from shared.catalogue import CATALOGUE
from shared.catalogue.intake import AttachmentRef
from shared.catalogue.scheduling import (
    ExemptionApproved,
    ExemptionRejected,
    ExemptionRequested,
    ExemptionScope,
    Milestone,
    MilestoneCompleted,
    MilestoneRebaselined,
    PlanBaselineApproved,
    PlanContent,
    PlanDrafted,
    PlanRevised,
)
from shared.domain_errors import Conflict, NotFound, conflict, invalid
from shared.envelope import Envelope


class Recorded(Protocol):
    """An event as the domain folds it: anything with an envelope (the event store's stored events are)."""

    @property
    def envelope(self) -> Envelope: ...


def plan_id_for(project_id: str, year: int) -> str:
    return f"{project_id}-y{year}"


class MilestoneState(Milestone):
    baseline_date: date | None = None
    done_on: date | None = None
    rebaselines: list[MilestoneRebaselined] = Field(default_factory=list)
    # When the completion and each re-baseline were recorded (platform clock), for reports "as known on D"
    # (plan_as_known.py); None and a shorter list: folded before they were kept (a rebuild fills them).
    done_recorded_at: datetime | None = None
    rebaselined_at: list[datetime] = Field(default_factory=list)


class ExemptionState(ExemptionRequested):
    status: str = "requested"  # requested | approved | rejected
    decided_note: str = ""
    requested_by: str = ""
    decided_at: datetime | None = None  # when the decision was recorded (None: folded before it was kept)


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


def _revised(s: PlanState, p: PlanRevised, _: Envelope) -> None:
    s.annual_target_investment = p.annual_target_investment
    s.yearly_targets = p.yearly_targets
    s.monthly_investment = p.monthly_investment
    s.milestones = [MilestoneState(**m.model_dump()) for m in p.milestones]


def _baselined(s: PlanState, p: PlanBaselineApproved, _: Envelope) -> None:
    s.baselined = True
    s.baseline_monthly_investment = p.monthly_investment
    for i in range(len(s.milestones)):
        m = _own_milestone(s, i)
        m.baseline_date = p.milestone_dates.get(m.milestone_id, m.planned_date)


def _rebaselined(s: PlanState, p: MilestoneRebaselined, env: Envelope) -> None:
    m = _milestone(s, p.milestone_id)
    m.planned_date = p.to_date
    m.rebaselines.append(p)
    m.rebaselined_at.append(env.recorded_at)


def _completed(s: PlanState, p: MilestoneCompleted, env: Envelope) -> None:
    m = _milestone(s, p.milestone_id)
    m.done_on, m.done_recorded_at = p.done_on, env.recorded_at


def _exemption_requested(s: PlanState, p: ExemptionRequested, env: Envelope) -> None:
    s.exemptions.append(ExemptionState(**p.model_dump(), requested_by=env.actor.org_id))


def _exemption_decided(s: PlanState, p: ExemptionApproved | ExemptionRejected, env: Envelope) -> None:
    i = next((i for i, e in enumerate(s.exemptions) if e.exemption_id == p.exemption_id), None)
    if i is None:
        raise ValueError(f"unknown exemption {p.exemption_id}")
    e = s.exemptions[i] = s.exemptions[i].model_copy()  # the plan's copy has its own list, not its own exemptions
    e.status = "approved" if isinstance(p, ExemptionApproved) else "rejected"
    e.decided_note, e.decided_at = p.note, env.recorded_at


# Event type -> how it changes a drafted plan (in place, on the copy evolve_plan makes: `_copy_to_change` copies the
# plan and its lists, and a change copies each milestone (`_own_milestone`) or exemption it mutates before it does;
# a new change that mutates something else in place must copy it too).
PLAN_CHANGES: dict[str, Callable[[PlanState, Any, Envelope], None]] = {
    "PlanRevised": _revised,
    "PlanBaselineApproved": _baselined,
    "MilestoneRebaselined": _rebaselined,
    "MilestoneCompleted": _completed,
    "ExemptionRequested": _exemption_requested,
    "ExemptionApproved": _exemption_decided,
    "ExemptionRejected": _exemption_decided,
}


def evolve_plan(state: PlanState | None, event: Recorded) -> PlanState:
    env = event.envelope
    p = CATALOGUE.payload_of(event)
    if isinstance(p, PlanDrafted):
        return PlanState(
            id=env.aggregate_id, project_id=p.project_id, year=p.year,
            annual_target_investment=p.annual_target_investment, yearly_targets=p.yearly_targets,
            monthly_investment=p.monthly_investment, drafted_by=env.actor.org_id, updated_at=env.recorded_at,
            milestones=[MilestoneState(**m.model_dump()) for m in p.milestones],
        )  # fmt: skip
    if state is None:
        raise ValueError(f"{env.type} before PlanDrafted for {env.aggregate_id}")
    change = PLAN_CHANGES.get(env.type)
    if change is None:
        raise ValueError(f"cannot apply {env.type} to a plan")
    s = _copy_to_change(state, env.recorded_at)
    change(s, p, env)
    return s


def _copy_to_change(state: PlanState, updated_at: datetime) -> PlanState:
    """A copy a change may mutate without touching `state` (a cached state stays as it was): the plan and its lists
    of milestones and exemptions; a change copies the milestone or exemption it mutates in place before it does
    (`_own_milestone`), the rest is shared, as the changes only ever replace it. A deep copy of the whole plan
    (payloads, Decimals, dates) took ~30% of a scheduling rebuild's CPU, and copying every milestone for the one a
    completion changes ~5%."""
    return state.model_copy(
        update={"updated_at": updated_at, "milestones": list(state.milestones), "exemptions": list(state.exemptions)}
    )


def _own_milestone(s: PlanState, i: int) -> MilestoneState:
    """Milestone `i` of the plan's copy, copied (with its lists of re-baselines) so that it may be changed in place."""
    m = s.milestones[i]
    m = s.milestones[i] = m.model_copy(
        update={"rebaselines": list(m.rebaselines), "rebaselined_at": list(m.rebaselined_at)}
    )
    return m


def _milestone(s: PlanState, milestone_id: str) -> MilestoneState:
    """The milestone of the plan's copy a change mutates, copied first (`_own_milestone`)."""
    i = next((i for i, m in enumerate(s.milestones) if m.milestone_id == milestone_id), None)
    if i is None:
        raise ValueError(f"unknown milestone {milestone_id}")
    return _own_milestone(s, i)


# -- plan decisions --------------------------------------------------------------------------------------------


def must_exist(state: PlanState | None) -> PlanState:
    if state is None:
        raise NotFound("实施方案不存在", field="plan_id", reason="实施方案不存在")
    return state


def _milestone_of(plan: PlanState, milestone_id: str) -> MilestoneState:
    m = plan.milestone(milestone_id)
    if m is None:
        raise NotFound("节点不存在", field="milestone_id", reason="本方案没有该节点")
    return m


def check_plan_content(year: int, content: PlanContent) -> None:
    if sum(content.monthly_investment, Decimal(0)) > content.annual_target_investment:
        raise invalid("monthly_investment", "各月计划投资之和超过 annual_target_investment")
    seen: set[str] = set()
    for i, m in enumerate(content.milestones):
        if m.milestone_id in seen:
            raise invalid(f"milestones.{i}.milestone_id", "节点编号重复")
        seen.add(m.milestone_id)
        if not (date(year - 1, 1, 1) <= m.planned_date <= date(year + 5, 12, 31)):
            raise invalid(f"milestones.{i}.planned_date", f"应在方案年度 {year} 前后")


def _content(cmd: PlanContent) -> dict[str, Any]:
    return {name: getattr(cmd, name) for name in PlanContent.model_fields}


def decide_draft(state: PlanState | None, cmd: DraftPlan) -> PlanDrafted:
    if state is not None:
        raise conflict("year", "该项目本年度已有实施方案")
    check_plan_content(cmd.year, cmd)
    return PlanDrafted(project_id=cmd.project_id, year=cmd.year, **_content(cmd))


def decide_revise(state: PlanState | None, cmd: ReviseDraft) -> PlanRevised:
    plan = must_exist(state)
    if plan.baselined:
        raise Conflict("方案已批准为基准,修改节点日期须走重新基准(rebaseline)并说明理由", field="plan_id",
                       reason="已是基准版本,请走重新基准")  # fmt: skip
    check_plan_content(plan.year, cmd)
    return PlanRevised(**_content(cmd))


def decide_baseline(state: PlanState | None, cmd: ApproveBaseline) -> PlanBaselineApproved:
    plan = must_exist(state)
    if plan.baselined:
        raise Conflict("方案已是基准版本", field="plan_id", reason="已是基准版本")
    if not plan.milestones:
        raise invalid("milestones", "方案须有节点才能批准为基准")
    return PlanBaselineApproved(
        milestone_dates={m.milestone_id: m.planned_date for m in plan.milestones},
        monthly_investment=plan.monthly_investment,
        note=cmd.note,
    )


def decide_rebaseline(state: PlanState | None, cmd: Rebaseline) -> MilestoneRebaselined:
    plan = must_exist(state)
    m = _milestone_of(plan, cmd.milestone_id)
    if not plan.baselined:
        raise Conflict("方案尚未批准基准,可直接修订草案", field="plan_id", reason="尚未批准基准,请修订草案")
    if m.done_on is not None:
        raise Conflict("节点已完成,不能调整日期", field="milestone_id", reason="节点已完成")
    if cmd.to_date == m.planned_date:
        raise invalid("to_date", "与当前计划日期相同")
    return MilestoneRebaselined(
        milestone_id=cmd.milestone_id, from_date=m.planned_date, to_date=cmd.to_date, reason=cmd.reason
    )


def decide_complete(state: PlanState | None, cmd: CompleteMilestone, today: date) -> MilestoneCompleted:
    plan = must_exist(state)
    m = _milestone_of(plan, cmd.milestone_id)
    if m.done_on is not None:
        raise Conflict(f"节点已于 {m.done_on.isoformat()} 完成", field="milestone_id", reason="节点已完成")
    if cmd.done_on > today:
        raise invalid("done_on", "不能晚于今天")
    return MilestoneCompleted(milestone_id=cmd.milestone_id, done_on=cmd.done_on)


def decide_complete_from_report(
    state: PlanState | None, milestone_id: str, done_on: date, report_id: str
) -> MilestoneCompleted | None:
    """A milestone a progress report says was reached: completed once, from the first report that names it; a
    milestone already done, or one a later revision of the draft removed, leaves nothing to do."""
    m = must_exist(state).milestone(milestone_id)
    if m is None or m.done_on is not None:
        return None
    return MilestoneCompleted(milestone_id=milestone_id, done_on=done_on, source="progress_report", report_id=report_id)


def decide_request_exemption(
    state: PlanState | None, cmd: RequestExemption, exemption_id: str, attachments: Sequence[AttachmentRef] = ()
) -> ExemptionRequested:
    plan = must_exist(state)
    if cmd.scope == ExemptionScope.MILESTONE:
        if cmd.milestone_id is None or plan.milestone(cmd.milestone_id) is None:
            raise invalid("milestone_id", "须为本方案的节点")
    else:
        if cmd.period_start is None or cmd.period_end is None:
            raise invalid("period_start", "时段豁免须有 period_start 与 period_end")
        if cmd.period_end < cmd.period_start:
            raise invalid("period_end", "不能早于 period_start")
    if not cmd.evidence and not attachments:
        raise invalid("evidence", "豁免申请须附证明材料(附件或说明)")
    if plan.exemption(exemption_id) is not None:
        raise conflict("exemption_id", "已提出申请")
    return ExemptionRequested(
        exemption_id=exemption_id, scope=cmd.scope, milestone_id=cmd.milestone_id, period_start=cmd.period_start,
        period_end=cmd.period_end, reason=cmd.reason, evidence=cmd.evidence, attachments=list(attachments),
    )  # fmt: skip


def decide_exemption(state: PlanState | None, cmd: DecideExemption) -> ExemptionApproved | ExemptionRejected:
    plan = must_exist(state)
    e = plan.exemption(cmd.exemption_id)
    if e is None:
        raise NotFound("豁免申请不存在", field="exemption_id", reason="本方案没有该豁免申请")
    if e.status != "requested":
        raise Conflict(f"豁免申请已{'批准' if e.status == 'approved' else '驳回'}", field="exemption_id",
                       reason=f"已{'批准' if e.status == 'approved' else '驳回'}")  # fmt: skip
    if cmd.approve:
        return ExemptionApproved(exemption_id=cmd.exemption_id, note=cmd.note)
    return ExemptionRejected(exemption_id=cmd.exemption_id, note=cmd.note)
