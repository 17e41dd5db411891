"""What scheduling's operations on plans, exemptions and meetings answer, as documented types (shared.responses).
Lights, rules, monitoring, the weekly cadence and the clock are in `responses_lights`.

An answer built on a domain state (a plan, a meeting) extends it, so a field the state gains is answered and
documented at once; it restates the money fields as `shared.money.Money` (decimal strings in 万元) and adds what the
answer carries beside the state (its version).
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from pydantic import Field

from services.scheduling.domain import ExemptionState, PlanState
from services.scheduling.domain_meetings import MeetingState
from shared.catalogue.scheduling import AgendaItem, Attendee, MeetingDecisionRecorded, MeetingKind
from shared.money import Money
from shared.responses import ANSWER_CONFIG, Answer, Written

VERSION = "当前版本号(同 ETag;修改时作为 If-Match)"


class ExemptionStatus(StrEnum):
    REQUESTED = "requested"
    APPROVED = "approved"
    REJECTED = "rejected"


class PlanAnswer(PlanState):
    """An annual implementation plan (年度实施方案): targets, monthly plan, milestones, baseline and exemptions."""

    model_config = ANSWER_CONFIG
    annual_target_investment: Money = Field(description="年度目标投资(万元)")
    monthly_investment: list[Money] = Field(description="1-12 月计划投资(万元)")
    baseline_monthly_investment: list[Money] | None = Field(default=None, description="基准的 1-12 月计划投资(万元)")
    version: int = Field(ge=0, description=VERSION)


class ExemptionAnswer(ExemptionState):
    """An exemption (正当理由) in hq's queue, with its plan and project."""

    model_config = ANSWER_CONFIG
    status: ExemptionStatus = Field(description="状态:requested 待审批、approved 已批准、rejected 已驳回")
    plan_id: str = Field(description="实施方案编号")
    plan_version: int = Field(ge=0, description="实施方案当前版本号(审批时作为 If-Match)")
    project_id: str = Field(description="项目编号")
    project_name: str = Field(description="项目名称")
    unit_id: str = Field(description="责任单位编号")


class ExemptionRequestedAnswer(Written):
    exemption_id: str = Field(description="豁免申请编号(审批时使用)")


class MeetingAnswer(MeetingState):
    """A dispatch meeting (调度会): agenda, attendance, minutes and decisions."""

    model_config = ANSWER_CONFIG
    version: int = Field(ge=0, description=VERSION)


class MeetingSummary(Answer):
    """A meeting in a list: everything but its agenda and minutes (`GET /v1/meetings/{id}` answers those)."""

    id: str = Field(description="调度会编号")
    kind: MeetingKind = Field(description="会议类型")
    title: str = Field(description="会议名称")
    scheduled_for: datetime = Field(description="会议时间")
    programme_id: str = Field(description="年度重点项目批次编号")
    unit_id: str | None = Field(description="召集单位编号(单位周调度会)")
    chair_id: str | None = Field(description="主持的包保市领导编号")
    agenda_as_of: date = Field(description="议程生成所依据的日期")
    attendees: list[Attendee] = Field(description="参会情况")
    decisions: list[MeetingDecisionRecorded] = Field(description="议定事项")
    agenda_count: int = Field(ge=0, description="议程条数")
    version: int = Field(ge=0, description=VERSION)


class AgendaAnswer(Answer):
    """A meeting's agenda, generated from the state on the day the meeting was scheduled."""

    meeting_id: str = Field(description="调度会编号")
    as_of: date = Field(description="议程生成所依据的日期")
    items: list[AgendaItem] = Field(description="议程:红灯、黄灯项目及原因,逾期节点")


class DecisionRecordedAnswer(Written):
    decision_id: str = Field(description="议定事项编号")
