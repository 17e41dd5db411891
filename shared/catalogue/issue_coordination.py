"""Issue-coordination events: issues (问题) and the tracked items meeting decisions become (aggregate `issue`).

Every step of an issue is an event on its own subject `<prefix>.ev.issue.<id>`. A tracked meeting decision is an
issue too (same lifecycle), created by `MeetingDecisionTracked` instead of `IssueRaised`. Deadlines are aware
datetimes and record where they came from (`deadline_source`) and, when rules computed them, the rule and calendar
versions used, so that a later rule or calendar never moves a deadline already given.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from pydantic import AwareDatetime, BaseModel, Field, StrictInt

from shared.catalogue.dates import IsoDate
from shared.catalogue.intake import AttachmentRef
from shared.catalogue.registry import event

Slug = Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]{1,64}$")]


class IssueCategory(StrEnum):
    LAND = "land"  # 用地
    PLANNING = "planning"  # 规划
    ENVIRONMENT = "environment"  # 环评
    APPROVAL = "approval"  # 审批
    FUNDING = "funding"  # 资金
    FINANCING = "financing"  # 融资
    LABOUR = "labour"  # 用工
    UTILITIES = "utilities"  # 水电气
    RELOCATION = "relocation"  # 拆迁
    OTHER = "other"  # 其他


CATEGORY_LABELS: dict[IssueCategory, str] = {
    IssueCategory.LAND: "用地", IssueCategory.PLANNING: "规划", IssueCategory.ENVIRONMENT: "环评",
    IssueCategory.APPROVAL: "审批", IssueCategory.FUNDING: "资金", IssueCategory.FINANCING: "融资",
    IssueCategory.LABOUR: "用工", IssueCategory.UTILITIES: "水电气", IssueCategory.RELOCATION: "拆迁",
    IssueCategory.OTHER: "其他",
}  # fmt: skip


class Priority(StrEnum):
    NORMAL = "normal"  # 一般
    URGENT = "urgent"  # 紧急


class IssueLevel(StrEnum):
    """Who answers for an unresolved issue now (逐级上报): the lead unit, then hq, the sponsoring leader, the mayor."""

    LEAD_UNIT = "lead_unit"  # 首接责任单位
    HQ = "hq"  # 指挥部办公室
    LEADER = "leader"  # 包保市领导
    MAYOR = "mayor"  # 市长


class DeadlineSource(StrEnum):
    RULES = "rules"  # computed from the deadline rules on the working-day calendar
    HQ = "hq"  # set by hq by hand


class Deadline(BaseModel):
    """A deadline and where it came from (not an event itself; assignments and decisions on extensions carry it)."""

    deadline: AwareDatetime
    deadline_source: DeadlineSource
    rule_version: StrictInt | None = None
    calendar_version: StrictInt | None = None
    # When it starts to run, on the platform's clock (the envelope's recorded_at is the writer's wall clock): the
    # working days waited for the raiser after it move it on.
    deadline_since: AwareDatetime | None = None


# -- creation ----------------------------------------------------------------------------------------------------


@event("IssueRaised", aggregate="issue")
class IssueRaised(BaseModel):
    """问题提出: by the project's unit or a unit of its task force."""

    project_id: str
    programme_id: str
    category: IssueCategory
    description: str
    help_requested: str
    priority: Priority = Priority.NORMAL
    attachments: list[AttachmentRef] = Field(default_factory=list)


@event("MeetingDecisionTracked", aggregate="issue")
class MeetingDecisionTracked(BaseModel):
    """A dispatch meeting's decision (议定事项) as a tracked item: assigned at once to its owner, due on its deadline
    day. `decided_by` recorded the decision (it confirms the resolution, as a raiser does)."""

    meeting_id: str
    decision_id: str
    text: str
    owner_unit_id: str
    deadline_day: IsoDate
    deadline: AwareDatetime
    project_id: str | None = None
    programme_id: str | None = None
    decided_by: str
    # The meeting set the deadline (source hq); the calendar version in force on the day of the decision, on which
    # its working days are judged (None in events from before it was recorded).
    calendar_version: StrictInt | None = None


# -- the lifecycle -----------------------------------------------------------------------------------------------


@event("IssueWithdrawn", aggregate="issue")
class IssueWithdrawn(BaseModel):
    reason: str


@event("IssueAssigned", aggregate="issue")
class IssueAssigned(Deadline):
    """交办 by hq: one lead unit (首接负责) and optional co-handlers (协办单位)."""

    lead_unit_id: str
    co_handler_ids: list[str] = Field(default_factory=list)
    note: str = ""


@event("ReassignmentRequested", aggregate="issue")
class ReassignmentRequested(BaseModel):
    """退回改派: the lead unit asks hq to give the issue to another unit."""

    request_id: str
    reason: str
    suggested_unit_id: str | None = None


@event("IssueReassigned", aggregate="issue")
class IssueReassigned(Deadline):
    """hq granted a reassignment request: a new lead unit (it accepts anew) and co-handlers."""

    request_id: str
    lead_unit_id: str
    co_handler_ids: list[str] = Field(default_factory=list)
    reason: str


@event("ReassignmentDeclined", aggregate="issue")
class ReassignmentDeclined(BaseModel):
    """hq refused a reassignment request: the lead unit keeps the issue."""

    request_id: str
    reason: str


@event("IssueAccepted", aggregate="issue")
class IssueAccepted(BaseModel):
    """受理 by the lead unit."""

    note: str = ""


@event("IssueNoteAdded", aggregate="issue")
class IssueNoteAdded(BaseModel):
    """A progress note (进展情况)."""

    text: str
    attachments: list[AttachmentRef] = Field(default_factory=list)


@event("ExtensionRequested", aggregate="issue")
class ExtensionRequested(BaseModel):
    """延期申请 by the lead unit."""

    request_id: str
    requested_deadline: AwareDatetime
    reason: str


@event("ExtensionDecided", aggregate="issue")
class ExtensionDecided(BaseModel):
    """hq's decision on an extension request; when granted, the new deadline (`deadline` set)."""

    request_id: str
    granted: bool
    reason: str
    deadline: Deadline | None = None


@event("InformationRequested", aggregate="issue")
class InformationRequested(BaseModel):
    """The handlers wait for the raiser (补充材料): the deadline clock pauses until it is provided."""

    request_id: str
    question: str
    at: AwareDatetime | None = None  # when asked, on the platform's clock: the deadline's pause starts


@event("InformationProvided", aggregate="issue")
class InformationProvided(BaseModel):
    request_id: str
    answer: str
    attachments: list[AttachmentRef] = Field(default_factory=list)
    at: AwareDatetime | None = None  # when answered, on the platform's clock: the deadline's pause ends


@event("IssueResolved", aggregate="issue")
class IssueResolved(BaseModel):
    """办结 by the lead unit, with the answer."""

    answer: str
    attachments: list[AttachmentRef] = Field(default_factory=list)


@event("ResolutionConfirmed", aggregate="issue")
class ResolutionConfirmed(BaseModel):
    """确认 by the raiser, with a satisfaction rating 1-5."""

    rating: StrictInt = Field(ge=1, le=5)
    comment: str = ""


@event("ResolutionRejected", aggregate="issue")
class ResolutionRejected(BaseModel):
    """The raiser rejects the resolution: back to work (counted as a reopen)."""

    reason: str


# -- escalation (逐级上报) -----------------------------------------------------------------------------------------


@event("IssueEscalated", aggregate="issue")
class IssueEscalated(Deadline):
    """One step up the ladder, unresolved at its deadline (or by hq's hand, `manual`), with the new level's deadline
    (working days of the rule version in force, on the calendar version in force: both recorded) and the reason.

    Its event id is derived from the issue and `to_level`, so each step is recorded once."""

    from_level: IssueLevel
    to_level: IssueLevel
    target_org_id: str | None = None  # the sponsoring leader's or the mayor's organisation; None for hq
    reason: str
    manual: bool = False
    missed_deadline: AwareDatetime | None = None  # the deadline that passed (None: hq escalated before it)
    deadline_since: AwareDatetime  # the new deadline runs from here: the missed one, or when hq escalated


# -- deadline near (临期提醒) ------------------------------------------------------------------------------------


@event("IssueDeadlineNeared", aggregate="issue")
class IssueDeadlineNeared(BaseModel):
    """The daily deadline-notice timer found the issue's deadline (pauses counted) exactly `working_days_left`
    working days away (3 or 1) on the calendar version its deadline recorded. Its event id is derived from the issue,
    the deadline and `working_days_left`: recorded once; a new deadline (an extension, a step up) gets new notices."""

    deadline: AwareDatetime
    working_days_left: StrictInt = Field(ge=1)
    calendar_version: StrictInt | None = None
    level: IssueLevel = IssueLevel.LEAD_UNIT


@event("IssueDeadlinePassed", aggregate="issue")
class IssueDeadlinePassed(BaseModel):
    """Overdue where the ladder ends (逾期提醒): the escalation run found the issue unresolved past its deadline
    (pauses counted) with no rung left above its level under the rules in force (the mayor, or the last rung the
    rules name), so it stays there, overdue. Below the top a missed deadline is an `IssueEscalated` instead. Its
    event id is derived from the issue and the deadline: recorded once; a new deadline that passes gets a new one."""

    deadline: AwareDatetime
    calendar_version: StrictInt
    level: IssueLevel
    target_org_id: str | None = None  # the organisation holding the level (the mayor's, the leader's); None for hq


# -- supervision orders (督办, aggregate `supervision_order`) -------------------------------------------------------


@event("SupervisionOrderIssued", aggregate="supervision_order")
class SupervisionOrderIssued(Deadline):
    """督办 by the supervision office (or hq): a target unit, about an issue or a project (at least one), with a
    deadline (given, or working days of the rules in force on the calendar in force, both recorded) and the
    requirement that the target unit submits a rectification plan (整改方案) before it can be closed."""

    target_unit_id: str
    issue_id: str | None = None
    project_id: str | None = None
    programme_id: str | None = None
    subject: str
    requirement: str
    # Every how many calendar days a reminder (催办) was due while the order is open, by the rules in force when it
    # was issued (IssueRules.reminder_every_days). Each reminder run uses the rules in force on its own day; this
    # records the cadence at issue (and dates the timer's reminders recorded before they carried `due_at`).
    reminder_every_days: StrictInt = 3


@event("RectificationPlanSubmitted", aggregate="supervision_order")
class RectificationPlanSubmitted(BaseModel):
    """整改方案 by the target unit (a resubmission after a return replaces the previous one)."""

    plan_id: str
    text: str
    attachments: list[AttachmentRef] = Field(default_factory=list)


@event("RectificationPlanReviewed", aggregate="supervision_order")
class RectificationPlanReviewed(BaseModel):
    """The supervision office accepts the plan or returns it (退回) with a reason."""

    plan_id: str
    accepted: bool
    reason: str = ""


@event("SupervisionOrderReminded", aggregate="supervision_order")
class SupervisionOrderReminded(BaseModel):
    """催办: by hand (`manual`) or by the reminder timer once per reminder period (`period`, its event id derived
    from the order and the period so that two replicas or a restart record it once)."""

    text: str
    manual: bool = False
    period: StrictInt | None = None  # the timer's reminder period number (0 = the first period after issue)
    # When the timer's reminder came due (a cadence, of the rules in force on the run's day, after the previous one
    # came due or after issue): the next one is due a cadence after it. None by hand, and in older events.
    due_at: AwareDatetime | None = None


@event("SupervisionOrderClosed", aggregate="supervision_order")
class SupervisionOrderClosed(BaseModel):
    """办结销号 by the supervision office, only with an accepted rectification plan."""

    conclusion: str


@event("SupervisionOrderDeadlineNeared", aggregate="supervision_order")
class SupervisionOrderDeadlineNeared(BaseModel):
    """The daily deadline-notice timer found the open order's deadline exactly `working_days_left` working days away
    (3 or 1) on the calendar version it recorded; once per order, deadline and threshold (id derived from them)."""

    deadline: AwareDatetime
    working_days_left: StrictInt = Field(ge=1)
    calendar_version: StrictInt | None = None
