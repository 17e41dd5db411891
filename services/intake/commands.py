"""What clients ask intake to do: commands as pydantic models, validated field by field.

A command carries everything its handler needs, the ids from the URL path included. Where the path names the
object, the request body is a `...Body` model (what the OpenAPI document shows) and the command extends it with
that id; `command_from(Command, body, project_id=...)` builds it in the route.
"""

from __future__ import annotations

import re
from decimal import Decimal
from enum import StrEnum
from typing import Annotated

from pydantic import (
    AfterValidator,
    Field,
    StrictBool,
    StrictInt,
)

from shared.catalogue.dates import IsoDate
from shared.catalogue.intake import (
    Category,
    ConstructionType,
    Phase,
    SubProject,
    TaskForce,
)
from shared.command_bodies import PathId, Strict
from shared.envelope import Role
from shared.money import Money

Slug = Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]{1,64}$")]
Text = Annotated[str, Field(min_length=1, max_length=200)]

# 全国投资项目在线审批监管平台 项目代码: 24 characters, YYYY-AAAAAA-II-TT-NNNNNN: year of filing, the
# 6-digit administrative division code, industry code, project type, serial number.
NATIONAL_CODE_RE = re.compile(r"^(\d{4})-(\d{6})-(\d{2})-(\d{2})-(\d{6})$")


def check_national_code(value: str) -> str:
    match = NATIONAL_CODE_RE.match(value)
    if match is None:
        raise ValueError("项目代码应为 24 位:YYYY-AAAAAA-II-TT-NNNNNN")
    if not 2000 <= int(match.group(1)) <= 2100:
        raise ValueError("项目代码前 4 位应为年份(2000-2100)")
    if match.group(2)[:2] in {"00"}:
        raise ValueError("项目代码第 6-11 位应为行政区划代码")
    return value


NationalCode = Annotated[str, AfterValidator(check_national_code)]


# -- programmes and projects --------------------------------------------------------------------------------


class RegisterProgramme(Strict):
    id: Slug | None = Field(default=None, description="年度重点项目批次编号;省略时由平台生成")
    name: Text = Field(description="年度重点项目批次名称,如“2024 三十工程”")
    year: StrictInt = Field(ge=2000, le=2100, description="年度")
    description: str = Field(default="", max_length=2000, description="说明")
    demo: StrictBool = Field(default=False, description="是否为演示数据")


class RegisterProject(Strict):
    id: Slug | None = Field(default=None, description="项目编号;省略时由平台生成")
    programme_id: Slug = Field(description="所属年度重点项目批次编号")
    code: NationalCode | None = Field(default=None, description="全国投资项目代码(24位),可选")
    name: Text = Field(description="项目名称")
    category: Category = Field(description="类别:industrial 工业 / infrastructure 基础设施 / livelihood 民生")
    unit_id: Slug = Field(description="责任单位(角色为 unit 的机构)编号")
    sponsor_leader_id: Slug | None = Field(default=None, description="包保市领导(角色为 leader 的机构)编号")
    task_force: TaskForce | None = Field(default=None, description="项目专班:组长与成员")
    location: Text = Field(description="建设地点(县区)")
    district: str | None = Field(
        default=None, min_length=1, max_length=50, description="所属区县(督查通报按此统计);省略时由建设地点推断"
    )
    construction_content: str = Field(default="", max_length=4000, description="建设内容")
    construction_type: ConstructionType = Field(description="new 新建 / continuing 续建")
    total_investment: Money = Field(description="总投资(万元)")
    annual_planned_investment: Money = Field(description="年度计划投资(万元),不超过总投资")
    planned_start: IsoDate = Field(description="计划开工日期")
    planned_completion: IsoDate = Field(description="计划竣工日期,不早于计划开工日期")
    sub_projects: list[SubProject] = Field(default_factory=list, max_length=50, description="子项目")
    demo: StrictBool = Field(default=False, description="是否为演示数据")
    investment_completed_before: Money = Field(
        default=Decimal(0),
        description="以前年度累计完成投资(万元,仅续建项目);续建项目直接登记为在建,累计完成投资从此起算",
    )


class AmendProjectBody(Strict):
    """只修改请求中给出的字段,至少给出一个。"""

    code: NationalCode | None = Field(default=None, description="全国投资项目代码(24位)")
    name: Text | None = Field(default=None, description="项目名称")
    location: Text | None = Field(default=None, description="建设地点(县区)")
    construction_content: str | None = Field(default=None, max_length=4000, description="建设内容")
    construction_type: ConstructionType | None = Field(default=None, description="new 新建 / continuing 续建")
    total_investment: Money | None = Field(default=None, description="总投资(万元)")
    annual_planned_investment: Money | None = Field(default=None, description="年度计划投资(万元)")
    planned_start: IsoDate | None = Field(default=None, description="计划开工日期")
    planned_completion: IsoDate | None = Field(default=None, description="计划竣工日期")
    sub_projects: list[SubProject] | None = Field(default=None, max_length=50, description="子项目(整体替换)")


class AssignTaskForceBody(Strict):
    task_force: TaskForce = Field(description="项目专班:组长与成员")


class AssignSponsorBody(Strict):
    sponsor_leader_id: Slug = Field(description="包保市领导(角色为 leader 的机构)编号")


class ChangePhaseBody(Strict):
    phase: Phase = Field(description="目标阶段:前期→在建→竣工→投产,或暂停/恢复/取消")
    reason: str = Field(min_length=2, max_length=1000, description="变更原因")


class ReportedMilestone(Strict):
    milestone_id: Slug = Field(description="实施方案中的节点编号(milestone_id)")
    done_on: IsoDate = Field(description="节点完成日期")


Percent = Annotated[Decimal, Field(ge=0, le=100, decimal_places=2)]


class ReportProgressBody(Strict):
    period_start: IsoDate = Field(description="填报周期开始日期")
    period_end: IsoDate = Field(description="填报周期结束日期,不早于开始日期")
    investment_this_period: Money = Field(description="本期完成投资(万元);累计投资由平台计算")
    image_progress_pct: Percent = Field(description="形象进度百分比(0-100)")
    image_progress_text: str = Field(default="", max_length=4000, description="形象进度描述")
    milestones_done: list[ReportedMilestone] = Field(
        default_factory=list,
        max_length=50,
        description="本期完成的节点(按实施方案的节点编号),完成日期不晚于周期结束日期;方案没有的节点编号答 422",
    )
    attachments: list[PathId] = Field(
        default_factory=list,
        max_length=20,
        description="现场照片、文件的附件编号(先经 POST /v1/attachments 上传到本项目)",
    )


class CorrectReportBody(Strict):
    """更正:给出的数字替换原填报的数字(省略表示不变),原填报保留在历史中;更正后的填报重新等待审核。"""

    reason: str = Field(min_length=2, max_length=1000, description="更正原因")
    investment_this_period: Money | None = Field(default=None, description="更正后的本期完成投资(万元)")
    image_progress_pct: Percent | None = Field(default=None, description="更正后的形象进度百分比(0-100)")
    image_progress_text: str | None = Field(default=None, max_length=4000, description="更正后的形象进度描述")
    milestones_done: list[ReportedMilestone] = Field(
        default_factory=list, max_length=50, description="补报本期完成的节点,完成日期不晚于周期结束日期"
    )


class ReviewDecision(StrEnum):
    ACCEPT = "accept"  # 审核通过
    RETURN = "return"  # 退回


class ReviewReportBody(Strict):
    decision: ReviewDecision = Field(description="accept 审核通过 / return 退回(须说明理由)")
    reason: str = Field(default="", max_length=1000, description="审核意见;退回时必填")


class OnProject(Strict):
    project_id: PathId = Field(description="项目编号")


class AmendProject(AmendProjectBody, OnProject):
    pass


class AssignTaskForce(AssignTaskForceBody, OnProject):
    pass


class AssignSponsor(AssignSponsorBody, OnProject):
    pass


class ChangePhase(ChangePhaseBody, OnProject):
    pass


class ReportProgress(ReportProgressBody, OnProject):
    pass


class OnReport(OnProject):
    report_id: PathId = Field(description="填报编号")


class CorrectReport(CorrectReportBody, OnReport):
    pass


class ReviewReport(ReviewReportBody, OnReport):
    pass


# -- organisations and credentials (identity) ---------------------------------------------------------------


class RegisterOrganisation(Strict):
    id: Slug = Field(description="机构编号")
    name: Text = Field(description="机构名称")
    role: Role = Field(
        description="角色:hq 指挥部办公室、unit 责任单位、leader 包保市领导、supervision 督查室、"
        "auditor 审计、admin 系统管理"
    )


class IssueCredentialBody(Strict):
    label: str = Field(default="", max_length=200, description="令牌用途说明")


class RevokeCredentialBody(Strict):
    reason: str = Field(default="", max_length=500, description="吊销原因")


class OnOrganisation(Strict):
    org_id: PathId = Field(description="机构编号")


class IssueCredential(IssueCredentialBody, OnOrganisation):
    pass


class RevokeCredential(RevokeCredentialBody, OnOrganisation):
    credential_id: PathId = Field(description="凭据编号")


# -- national code claims (issued by the project handlers, never by a route) ----------------------------------


class ClaimProjectCode(Strict):
    code: NationalCode
    year: StrictInt = Field(ge=2000, le=2100)
    project_id: Slug


class ReleaseProjectCode(Strict):
    project_id: Slug
