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
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=100)
    done_on: IsoDate


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
    # Site evidence uploaded before (POST /v1/attachments), checked to belong to the project; older events: none.
    attachments: list[AttachmentRef] = Field(default_factory=list)


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


# -- attachments (aggregate `attachment`): site evidence in the object store, linked to a project ---------------------


@event("AttachmentUploaded", aggregate="attachment")
class AttachmentUploaded(BaseModel):
    """The bytes are in the object store bucket under the attachment's id; size and SHA-256 are the server's own."""

    project_id: str
    name: str = Field(min_length=1, max_length=200)
    content_type: str
    size: int = Field(ge=1)
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
