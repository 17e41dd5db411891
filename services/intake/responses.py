"""What intake's operations answer, as documented types (shared.responses): programmes, projects, organisations,
credentials, change requests and uploads. The progress ledger's answers are in `responses_progress`.

An answer built on a domain state (a project, a change request) extends that state, so a field the state gains is
answered and documented at once; it restates only the money fields (as `shared.money.Money`, the decimal string in
万元 the API speaks) and adds what the answer carries beside the state (its version).
"""

from __future__ import annotations

from decimal import Decimal
from enum import StrEnum

from pydantic import Field

from services.intake.domain import ProgrammeState, ProjectState
from services.intake.domain_change_requests import ChangeRequestState
from shared.envelope import Role
from shared.money import Money
from shared.responses import ANSWER_CONFIG, Answer, Written

VERSION = "当前版本号(同 ETag;修改时作为 If-Match)"


class ProgrammeAnswer(ProgrammeState):
    """A programme (年度重点项目批次) and how many projects it holds."""

    model_config = ANSWER_CONFIG
    version: int = Field(ge=0, description=VERSION)
    project_count: int = Field(ge=0, description="所含项目数")


class ProjectAnswer(ProjectState):
    """A project as the read model holds it; the investment figures are decimal strings in 万元."""

    model_config = ANSWER_CONFIG
    total_investment: Money = Field(description="总投资(万元)")
    annual_planned_investment: Money = Field(description="年度计划投资(万元)")
    investment_completed_before: Money = Field(default=Decimal(0), description="续建项目以前年度已完成投资(万元)")
    cumulative_investment: Money = Field(
        default=Decimal(0), description="累计完成投资(万元):以前年度完成投资加审核通过的填报,由平台计算"
    )
    reported_investment: Money = Field(default=Decimal(0), description="已填报投资之和(万元,含待审核与退回的填报)")
    version: int = Field(ge=0, description=VERSION)


class OrganisationAnswer(Answer):
    """An organisation in the list (its credentials are never listed)."""

    id: str = Field(description="机构编号")
    name: str = Field(description="机构名称")
    role: Role = Field(description="角色")
    demo: bool = Field(description="演示数据")
    version: int = Field(ge=0, description=VERSION)


class CredentialIssuedAnswer(Written):
    """A credential issued: the token is shown in this answer only (the platform keeps its digest)."""

    credential_id: str = Field(description="凭据编号")
    token: str = Field(description="令牌(仅本次显示)")


class ChangeRequestStatus(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"


class ChangeRequestAnswer(ChangeRequestState):
    """A change request (变更申请) with its decision, if any; amounts in 万元."""

    model_config = ANSWER_CONFIG
    status: ChangeRequestStatus = Field(description="状态:pending 待审批、approved 已批准、rejected 已驳回")
    total_investment: Money | None = Field(default=None, description="planned_investment:申请的总投资(万元)")
    annual_planned_investment: Money | None = Field(
        default=None, description="planned_investment:申请的年度计划投资(万元)"
    )
    filed_event_id: str = Field(default="", exclude=True)  # internal: how a retried filing recognises itself
    version: int = Field(ge=0, description=VERSION)


class AttachmentUploadedAnswer(Written):
    """An upload recorded: what the platform measured of the file, to reference it by id."""

    project_id: str = Field(description="所属项目编号")
    name: str = Field(description="文件名")
    content_type: str = Field(description="文件类型(按文件头确认)")
    size: int = Field(ge=1, description="字节数")
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$", description="SHA-256(十六进制)")


def change_request_answer(state: ChangeRequestState, version: int) -> ChangeRequestAnswer:
    return ChangeRequestAnswer(**dict(state), version=version)


def project_answer(state: ProjectState, version: int) -> ProjectAnswer:
    return ProjectAnswer(**dict(state), version=version)
