"""Intake events: programmes (aggregate `programme`) and projects (aggregate `project`).

Money is in 万元 as Decimal (serialised as a string), so sums are exact and hashes are stable.
"""

from __future__ import annotations

from decimal import Decimal
from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from shared.catalogue.dates import IsoDate
from shared.catalogue.registry import event

Amount = Annotated[Decimal, Field(ge=0, max_digits=14, decimal_places=4)]


class Category(StrEnum):
    INDUSTRIAL = "industrial"  # 工业
    INFRASTRUCTURE = "infrastructure"  # 基础设施
    LIVELIHOOD = "livelihood"  # 民生


class Phase(StrEnum):
    PRELIMINARY = "preliminary"  # 前期
    UNDER_CONSTRUCTION = "under_construction"  # 在建
    COMPLETED = "completed"  # 竣工
    IN_OPERATION = "in_operation"  # 投产
    SUSPENDED = "suspended"  # 暂停
    CANCELLED = "cancelled"  # 取消


class ConstructionType(StrEnum):
    NEW = "new"  # 新建
    CONTINUING = "continuing"  # 续建


class TaskForceMember(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=100)
    org_id: str = Field(min_length=1, max_length=128)
    title: str = Field(default="", max_length=100)


class TaskForce(BaseModel):
    model_config = ConfigDict(extra="forbid")

    lead: TaskForceMember
    members: list[TaskForceMember] = Field(default_factory=list, max_length=100)


class SubProject(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    content: str = Field(default="", max_length=2000)


class AttachmentRef(BaseModel):
    """Site evidence (现场照片, documents) an event refers to: the stored object and what the server measured of it."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(min_length=1, max_length=64)
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    size: int = Field(ge=1)
    name: str = Field(min_length=1, max_length=200)
    content_type: str


class MilestoneDone(BaseModel):
    """A milestone a progress report says was reached. Reports name the plan's milestone by id (and intake
    records which plan it checked it against); events written before ids existed carry only the name."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=100)
    done_on: IsoDate
    milestone_id: str | None = None
    plan_id: str | None = None


@event("ProgrammeRegistered", aggregate="programme")
class ProgrammeRegistered(BaseModel):
    name: str
    year: int
    description: str = ""
    demo: bool = False


@event("ProjectRegistered", aggregate="project")
class ProjectRegistered(BaseModel):
    programme_id: str
    code: str | None = None
    name: str
    category: Category
    unit_id: str
    sponsor_leader_id: str | None = None
    task_force: TaskForce | None = None
    location: str
    construction_content: str = ""
    construction_type: ConstructionType
    total_investment: Amount
    annual_planned_investment: Amount
    planned_start: IsoDate
    planned_completion: IsoDate
    phase: Phase = Phase.PRELIMINARY
    sub_projects: list[SubProject] = Field(default_factory=list)
    demo: bool = False
    # 续建: the investment completed in earlier years; the project's cumulative investment starts there.
    investment_completed_before: Amount = Decimal(0)
    district: str | None = None  # 区县 the supervision bulletin counts by; absent: derived from the location


@event("ProjectDetailsAmended", aggregate="project")
class ProjectDetailsAmended(BaseModel):
    """Only the fields that changed are present; absent means unchanged."""

    code: str | None = None
    name: str | None = None
    location: str | None = None
    construction_content: str | None = None
    construction_type: ConstructionType | None = None
    total_investment: Amount | None = None
    annual_planned_investment: Amount | None = None
    planned_start: IsoDate | None = None
    planned_completion: IsoDate | None = None
    sub_projects: list[SubProject] | None = None
    # The approved change request (变更申请) this amendment applies; None for hq's own amendments.
    change_request_id: str | None = None


@event("TaskForceAssigned", aggregate="project")
class TaskForceAssigned(BaseModel):
    task_force: TaskForce


@event("SponsorAssigned", aggregate="project")
class SponsorAssigned(BaseModel):
    sponsor_leader_id: str


@event("ProjectPhaseChanged", aggregate="project")
class ProjectPhaseChanged(BaseModel):
    from_phase: Phase
    to_phase: Phase
    reason: str
    # The approved change request (变更申请) this phase change applies; None for a direct one.
    change_request_id: str | None = None


@event("ProgressReported", aggregate="project")
class ProgressReported(BaseModel):
    report_id: str
    period_start: IsoDate
    period_end: IsoDate
    investment_this_period: Amount
    # Derived by intake from the ledger when the report is accepted; never taken from the client.
    cumulative_investment: Amount
    image_progress_pct: Annotated[Decimal, Field(ge=0, le=100, decimal_places=2)]
    image_progress_text: str = ""
    milestones_done: list[MilestoneDone] = Field(default_factory=list)
    # Reports wait for hq's review (审核) before they count in 累计完成投资; reports recorded before the review
    # existed (False) counted at once, and still do.
    awaiting_review: bool = False

    # Site evidence uploaded before (POST /v1/attachments), checked to belong to the project; older events: none.
    attachments: list[AttachmentRef] = Field(default_factory=list)


class ReportFigures(BaseModel):
    """What a correction restates: the figures of a report as they should have been."""

    investment_this_period: Amount
    image_progress_pct: Annotated[Decimal, Field(ge=0, le=100, decimal_places=2)]
    image_progress_text: str = ""


@event("ProgressReportCorrected", aggregate="project")
class ProgressReportCorrected(ReportFigures):
    """更正: the report's figures restated, with the reason; the original stays in the log and in the ledger's
    history. The corrected report waits for hq's review again."""

    report_id: str
    reason: str
    investment_before: Amount  # the report's figure this correction replaces (for the ledger's totals and auditors)
    milestones_done: list[MilestoneDone] = Field(default_factory=list)  # milestones the correction adds


@event("ProgressReportAccepted", aggregate="project")
class ProgressReportAccepted(BaseModel):
    """审核通过 by hq: the report's figure now counts in 累计完成投资 (replacing what an earlier acceptance counted)."""

    report_id: str
    note: str = ""
    investment_accepted: Amount
    investment_previously_accepted: Amount = Decimal(0)


@event("ProgressReportReturned", aggregate="project")
class ProgressReportReturned(BaseModel):
    """退回 by hq for rework, with the reason; the unit corrects the report, which then waits for review again."""

    report_id: str
    reason: str


# -- national codes (aggregate `project_code`, id `<code>_<year>`): a code is claimed under optimistic concurrency,
# so two registrations with one code cannot both succeed (docs/adr/0009-national-code-claims.md).


@event("ProjectCodeClaimed", aggregate="project_code")
class ProjectCodeClaimed(BaseModel):
    code: str
    year: int  # the programme year: a continuing project keeps its code in the programmes of later years
    project_id: str
    # The claim this one replaces: a holder that never carried the code (an interrupted registration or amendment).
    taken_over_from: str | None = None


@event("ProjectCodeReleased", aggregate="project_code")
class ProjectCodeReleased(BaseModel):
    project_id: str  # the holder that gave the code up (an amendment changed its code)


# -- change requests (aggregate `change_request`): what moves a baseline is filed by the unit and decided by hq;
# only an approval changes anything, through reactions (docs/adr/0014-change-requests.md).


class ChangeRequestKind(StrEnum):
    CANCEL = "cancel"  # 取消项目
    SUSPEND = "suspend"  # 暂停项目
    RESUME = "resume"  # 恢复项目
    REBASELINE_MILESTONE = "rebaseline_milestone"  # 调整节点日期
    PLANNED_DATES = "planned_dates"  # 调整计划开工/竣工日期
    PLANNED_INVESTMENT = "planned_investment"  # 调整总投资/年度计划投资


class ChangeDetails(BaseModel):
    """What a change request asks to change (not an event itself); only the fields of its kind are present."""

    plan_id: str | None = None  # rebaseline_milestone: the plan (年度实施方案) and its milestone
    milestone_id: str | None = None
    to_date: IsoDate | None = None
    planned_start: IsoDate | None = None  # planned_dates: either or both
    planned_completion: IsoDate | None = None
    total_investment: Amount | None = None  # planned_investment: either or both
    annual_planned_investment: Amount | None = None


@event("ChangeRequestFiled", aggregate="change_request")
class ChangeRequestFiled(ChangeDetails):
    project_id: str
    programme_id: str
    unit_id: str  # the project's responsible unit when filed (whoever filed it: the actor says)
    kind: ChangeRequestKind
    reason: str
    evidence: list[str] = Field(default_factory=list)  # attachment ids
    # The same attachments as checked references (id, SHA-256, size...); absent in requests filed before they existed.
    attachments: list[AttachmentRef] = Field(default_factory=list)


@event("ChangeRequestApproved", aggregate="change_request")
class ChangeRequestApproved(ChangeDetails):
    """Carries the approved change in full, so that each reaction applies it without reading intake's tables."""

    project_id: str
    kind: ChangeRequestKind
    reason: str  # hq's own reason


@event("ChangeRequestRejected", aggregate="change_request")
class ChangeRequestRejected(BaseModel):
    project_id: str
    kind: ChangeRequestKind
    reason: str  # hq's own reason


# -- attachments (aggregate `attachment`): site evidence in the object store, linked to a project ---------------------


@event("AttachmentUploaded", aggregate="attachment")
class AttachmentUploaded(BaseModel):
    """The bytes are in the object store bucket under the attachment's id; size and SHA-256 are the server's own."""

    project_id: str
    name: str = Field(min_length=1, max_length=200)
    content_type: str
    size: int = Field(ge=1)
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
