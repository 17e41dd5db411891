"""What clients ask of change requests (变更申请): file one for a project, and hq's decision on it."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from pydantic import Field

from services.intake.commands import OnProject, Slug
from shared.catalogue.dates import IsoDate
from shared.catalogue.intake import ChangeRequestKind
from shared.command_bodies import PathId, Strict
from shared.money import Money

Reason = Annotated[str, Field(min_length=2, max_length=2000)]
# An attachment id (the attachment store names them; here they are only carried): a slug.
EvidenceId = Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]{1,128}$")]


class FileChangeRequestBody(Strict):
    """给出变更类型、理由与证明材料,以及该类型需要的字段(其余字段不填)。"""

    kind: ChangeRequestKind = Field(
        description="变更类型:cancel 取消项目、suspend 暂停、resume 恢复、rebaseline_milestone 调整节点日期、"
        "planned_dates 调整计划开工/竣工日期、planned_investment 调整总投资/年度计划投资"
    )
    reason: Reason = Field(description="变更理由")
    evidence: list[EvidenceId] = Field(default_factory=list, max_length=20, description="证明材料(附件编号)")
    plan_id: Slug | None = Field(default=None, description="rebaseline_milestone:实施方案编号")
    milestone_id: Slug | None = Field(default=None, description="rebaseline_milestone:节点编号")
    to_date: IsoDate | None = Field(default=None, description="rebaseline_milestone:节点的新计划日期")
    planned_start: IsoDate | None = Field(default=None, description="planned_dates:新的计划开工日期")
    planned_completion: IsoDate | None = Field(default=None, description="planned_dates:新的计划竣工日期")
    total_investment: Money | None = Field(default=None, description="planned_investment:新的总投资(万元)")
    annual_planned_investment: Money | None = Field(
        default=None, description="planned_investment:新的年度计划投资(万元)"
    )


class FileChangeRequest(FileChangeRequestBody, OnProject):
    pass


class Decision(StrEnum):
    APPROVE = "approve"  # 批准
    REJECT = "reject"  # 驳回


class DecideChangeRequestBody(Strict):
    decision: Decision = Field(description="approve 批准 / reject 驳回")
    reason: Reason = Field(description="审批意见")


class DecideChangeRequest(DecideChangeRequestBody):
    change_request_id: PathId = Field(description="变更申请编号")
