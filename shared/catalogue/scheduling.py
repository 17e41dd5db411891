"""Scheduling events: plans and milestones (aggregate `plan`), rule versions (`rule_set`), status lights (`light`),
daily monitoring (`monitoring`, one aggregate per day) and dispatch meetings (`dispatch_meeting`)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictFloat, StrictInt

from shared.catalogue.dates import IsoDate
from shared.catalogue.intake import Amount, AttachmentRef
from shared.catalogue.registry import event, upcaster

Slug = Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]{1,64}$")]


class Colour(StrEnum):
    GREEN = "green"  # 绿灯
    YELLOW = "yellow"  # 黄灯
    RED = "red"  # 红灯


class ExemptionScope(StrEnum):
    MILESTONE = "milestone"
    PERIOD = "period"


class MeetingKind(StrEnum):
    WEEKLY = "weekly"  # 周调度(单位)
    MONTHLY = "monthly"  # 月调度(市级)
    SPECIAL = "special"  # 专题调度


class Milestone(BaseModel):
    model_config = ConfigDict(extra="forbid")

    milestone_id: Slug
    name: str = Field(min_length=1, max_length=100)
    planned_date: IsoDate
    unit_id: Slug


# -- plans -----------------------------------------------------------------------------------------------------


class PlanContent(BaseModel):
    """What a plan says (not an event itself; both plan-writing events carry it)."""

    annual_target_investment: Amount
    yearly_targets: str = Field(default="", max_length=4000)
    monthly_investment: list[Amount] = Field(min_length=12, max_length=12, description="1-12 月计划投资(万元)")
    milestones: list[Milestone] = Field(default_factory=list, max_length=60)


@event("PlanDrafted", aggregate="plan")
class PlanDrafted(PlanContent):
    project_id: str
    year: int


@event("PlanRevised", aggregate="plan")
class PlanRevised(PlanContent):
    """A draft replaced as a whole (only before its baseline is approved)."""


@event("PlanBaselineApproved", aggregate="plan")
class PlanBaselineApproved(BaseModel):
    """The frozen baseline: dates and money as approved; later changes are explicit re-baselines."""

    milestone_dates: dict[str, IsoDate]
    monthly_investment: list[Amount] = Field(min_length=12, max_length=12)
    note: str = ""


@event("MilestoneRebaselined", aggregate="plan")
class MilestoneRebaselined(BaseModel):
    milestone_id: str
    from_date: IsoDate
    to_date: IsoDate
    reason: str
    change_request_id: str | None = None  # the approved change request (变更申请) it applies


@event("MilestoneCompleted", aggregate="plan")
class MilestoneCompleted(BaseModel):
    milestone_id: str
    done_on: IsoDate
    source: str = "direct"  # direct | progress_report
    report_id: str | None = None  # the progress report that reached it (source progress_report)


@event("ExemptionRequested", aggregate="plan")
class ExemptionRequested(BaseModel):
    exemption_id: str
    scope: ExemptionScope
    milestone_id: str | None = None
    period_start: IsoDate | None = None
    period_end: IsoDate | None = None
    reason: str
    evidence: list[str] = Field(default_factory=list)
    # Site evidence uploaded to the plan's project (POST /v1/attachments); older events: none.
    attachments: list[AttachmentRef] = Field(default_factory=list)


@event("ExemptionApproved", aggregate="plan")
class ExemptionApproved(BaseModel):
    exemption_id: str
    note: str = ""


@event("ExemptionRejected", aggregate="plan")
class ExemptionRejected(BaseModel):
    exemption_id: str
    note: str = ""


# -- rules -----------------------------------------------------------------------------------------------------


# The issue ladder's levels as issue_coordination names them (shared.catalogue.issue_coordination.IssueLevel).
IssueLevelName = Literal["lead_unit", "hq", "leader", "mayor"]


class Rules(BaseModel):
    """Thresholds of one rule version. Points are percentage points of the annual target (序时进度).

    Strict numbers: a rule is data hq publishes, so `"10"` or `true` for a threshold is a mistake to refuse."""

    model_config = ConfigDict(extra="forbid")

    yellow_points_behind: StrictFloat = Field(default=10, ge=0, le=100)
    red_points_behind: StrictFloat = Field(default=30, ge=0, le=100)
    late_start_yellow_months: StrictInt = Field(default=1, ge=0, le=24)
    late_start_red_months: StrictInt = Field(default=3, ge=0, le=24)
    milestone_overdue_red_days: StrictInt = Field(default=30, ge=0, le=365)
    warning_days: list[StrictInt] = Field(default_factory=lambda: [7, 3, 1])
    # Superseded by the weekly deadline below (rule versions published before it still carry them, and fold).
    report_late_yellow_days: StrictInt = Field(default=10, ge=1, le=365, description="已停用:改按每周填报截止时间")
    report_late_red_days: StrictInt = Field(default=24, ge=1, le=365, description="已停用:改按每周填报截止时间")
    escalated_issue_open_colour: Colour = Colour.RED
    # The weekly cadence (一周一调度): the report of ISO week W (a period ending in W) is due by W's weekday
    # `report_deadline_weekday` (1 = Monday ... 7 = Sunday) at this time, China time.
    report_deadline_weekday: StrictInt = Field(default=5, ge=1, le=7, description="每周填报截止:星期几(1=周一)")
    report_deadline_hour: StrictInt = Field(default=17, ge=0, le=23, description="每周填报截止:时(北京时间)")
    report_deadline_minute: StrictInt = Field(default=0, ge=0, le=59, description="每周填报截止:分")
    report_missing_yellow_weeks: StrictInt = Field(
        default=1, ge=1, le=52, description="连续几周过截止时间仍未填报为黄灯"
    )
    report_missing_red_weeks: StrictInt = Field(default=3, ge=1, le=52, description="连续几周过截止时间仍未填报为红灯")
    # Yellow (逾期补报) since record time and deadlines are on one clock (docs/adr/0017); versions published before
    # that meant green when they left it out: RuleVersionPublished v1 is upcast to say so.
    report_filed_late_colour: Colour = Field(
        default=Colour.YELLOW, description="最近一周逾期后补报时报送维度的灯色(逾期事实总会写入原因)"
    )
    # The issue dimension (docs/adr/0023): an open issue at this level of the ladder or above turns it yellow/red
    # (None: never). Versions published before these fields fold with the defaults.
    issue_yellow_from_level: IssueLevelName | None = Field(
        default="hq", description="未解决问题升级到该层级及以上时问题维度为黄灯(lead_unit/hq/leader/mayor,空为不预警)"
    )
    issue_red_from_level: IssueLevelName | None = Field(
        default="leader", description="未解决问题升级到该层级及以上时问题维度为红灯(空为不预警)"
    )
    supervision_order_open_colour: Colour = Field(
        default=Colour.RED, description="项目有未办结的督办令时问题维度的灯色"
    )


# The default of report_filed_late_colour was green in schema version 1.
LATE_COLOUR_BEFORE_V2 = Colour.GREEN


@event("RuleVersionPublished", aggregate="rule_set", version=2)
class RuleVersionPublished(BaseModel):
    version: int = Field(ge=1)
    effective_from: IsoDate
    rules: Rules
    note: str = ""


@upcaster("RuleVersionPublished", from_version=1)
def _late_colour_of_v1(payload: dict[str, Any]) -> dict[str, Any]:
    """A v1 version that left report_filed_late_colour out meant the default then, green: it keeps meaning it."""
    rules = payload.get("rules")
    if not isinstance(rules, dict) or "report_filed_late_colour" in rules:
        return payload
    return {**payload, "rules": {**rules, "report_filed_late_colour": LATE_COLOUR_BEFORE_V2.value}}


# -- lights ----------------------------------------------------------------------------------------------------


class DimensionLight(BaseModel):
    colour: Colour
    reasons: list[str] = Field(default_factory=list)


class ReportWeekStatus(StrEnum):
    ON_TIME = "on_time"  # 按时填报
    LATE = "late"  # 逾期补报
    MISSING = "missing"  # 逾期未报
    EXCUSED = "excused"  # 正当理由豁免
    PENDING = "pending"  # 未到截止时间,尚未填报


class ReportWeek(BaseModel):
    """How one ISO week's report stood against its deadline when a light was evaluated."""

    week: str = Field(description="ISO 周,如 2026-W48")
    deadline: datetime
    status: ReportWeekStatus
    recorded_at: datetime | None = None  # when the report covering the week was recorded, if it was


@event("StatusLightChanged", aggregate="light")
class StatusLightChanged(BaseModel):
    project_id: str
    as_of: IsoDate
    colour: Colour
    previous_colour: Colour | None = None
    milestones: DimensionLight
    investment: DimensionLight
    reporting: DimensionLight
    issues: DimensionLight | None = None
    spi: float | None = None
    points_behind: float | None = None
    rule_version: int
    exemptions_applied: list[str] = Field(default_factory=list)
    # The figures behind the wording, for reports to render (absent in lights recorded before they existed).
    investment_completion_pct: float | None = Field(default=None, description="投资完成率(%):本年完成/年度计划")
    time_progress_pct: float | None = Field(default=None, description="序时进度(%):序时计划/年度计划")
    report_weeks: list[ReportWeek] = Field(
        default_factory=list, description="决定报送灯色的各周:最近一个已过截止的周及其前连续未报的周"
    )
    evaluated_at: datetime | None = Field(default=None, description="评价时刻(截止时间是否已过据此判断)")
    # The platform's day when the light was recorded (as_of is the day it was evaluated for: a catch-up or a run for
    # an earlier day records later). What a day showed reads this; absent in older events: as_of stands for it.
    recorded_on: IsoDate | None = None


# -- daily monitoring ------------------------------------------------------------------------------------------


class MilestoneFlag(BaseModel):
    """Which milestone a monitoring item is about (not an event itself)."""

    day: IsoDate
    project_id: str
    plan_id: str
    milestone_id: str
    name: str
    due: IsoDate
    unit_id: str


@event("MilestoneDueSoonFlagged", aggregate="monitoring")
class MilestoneDueSoonFlagged(MilestoneFlag):
    days_left: int


@event("MilestoneOverdueFlagged", aggregate="monitoring")
class MilestoneOverdueFlagged(MilestoneFlag):
    days_overdue: int


@event("ReportOverdueFlagged", aggregate="monitoring")
class ReportOverdueFlagged(BaseModel):
    day: IsoDate
    project_id: str
    unit_id: str
    last_period_end: IsoDate | None
    days_since: int
    week: str | None = None  # the ISO week whose deadline passed without a report (absent in older flags)
    deadline: datetime | None = None
    weeks_missing: int | None = None


@event("MonitoringCompleted", aggregate="monitoring")
class MonitoringCompleted(BaseModel):
    day: IsoDate
    items: int
    lights_changed: int


# -- dispatch meetings -----------------------------------------------------------------------------------------


class AgendaItem(BaseModel):
    kind: str  # red_project | yellow_project | overdue_milestone | escalated_issue | supervision_order
    project_id: str | None = None
    title: str
    reasons: list[str] = Field(default_factory=list)
    unit_id: str | None = None


class Attendee(BaseModel):
    model_config = ConfigDict(extra="forbid")

    org_id: str
    name: str = ""


@event("DispatchMeetingScheduled", aggregate="dispatch_meeting")
class DispatchMeetingScheduled(BaseModel):
    kind: MeetingKind
    title: str
    scheduled_for: datetime
    programme_id: str
    unit_id: str | None = None
    chair_id: str | None = None
    agenda: list[AgendaItem] = Field(default_factory=list)
    agenda_as_of: IsoDate


@event("MeetingAttendanceRecorded", aggregate="dispatch_meeting")
class MeetingAttendanceRecorded(BaseModel):
    attendees: list[Attendee]


@event("MeetingMinutesRecorded", aggregate="dispatch_meeting")
class MeetingMinutesRecorded(BaseModel):
    minutes: str


@event("MeetingDecisionRecorded", aggregate="dispatch_meeting")
class MeetingDecisionRecorded(BaseModel):
    """议定事项: issue-coordination turns each into a tracked item with this owner and deadline."""

    decision_id: str
    text: str
    owner_unit_id: str
    deadline: IsoDate
    project_id: str | None = None
