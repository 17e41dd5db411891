"""What clients ask of issues (问题): request bodies (`...Body`, validated field by field, what the OpenAPI document
shows) and the whole commands handlers take (the body plus the issue's id from the path)."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from pydantic import AwareDatetime, Field, StrictInt

from shared.catalogue.issue_coordination import IssueCategory, Priority
from shared.command_bodies import PathId, Strict

Slug = Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]{1,64}$")]
Reason = Annotated[str, Field(min_length=2, max_length=2000)]
Text = Annotated[str, Field(min_length=1, max_length=4000)]
Note = Annotated[str, Field(max_length=2000)]
# An attachment id (intake's attachment store names them; here they are only carried): a slug.
AttachmentId = Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]{1,128}$")]
Attachments = Annotated[list[AttachmentId], Field(max_length=20, description="附件编号(先上传到 /v1/attachments)")]
Units = Annotated[list[Slug], Field(max_length=10, description="协办单位编号")]


class Decision(StrEnum):
    APPROVE = "approve"  # 同意
    REJECT = "reject"  # 不同意


class OnIssue(Strict):
    issue_id: PathId


# -- raise and withdraw ------------------------------------------------------------------------------------------


class RaiseIssue(Strict):
    """由项目责任单位或项目专班成员单位提出。"""

    project_id: Slug = Field(description="项目编号")
    category: IssueCategory = Field(
        description="问题类别:land 用地、planning 规划、environment 环评、approval 审批、funding 资金、"
        "financing 融资、labour 用工、utilities 水电气、relocation 拆迁、other 其他"
    )
    description: Text = Field(description="问题描述")
    help_requested: Text = Field(description="需要协调解决的事项")
    priority: Priority = Field(default=Priority.NORMAL, description="normal 一般 / urgent 紧急")
    attachments: Attachments = Field(default_factory=list)


class WithdrawBody(Strict):
    reason: Reason = Field(description="撤回理由")


class Withdraw(WithdrawBody, OnIssue):
    pass


# -- assignment and reassignment ---------------------------------------------------------------------------------


class AssignBody(Strict):
    lead_unit_id: Slug = Field(description="首接负责单位编号")
    co_handler_ids: Units = Field(default_factory=list)
    deadline: AwareDatetime | None = Field(
        default=None,
        description="办理期限(带时区的时刻,如 2024-10-15T18:00:00+08:00);省略则按交办当日生效的期限规则和工作日历计算"
        "(第 N 个工作日 18:00,交办当日不计),并记录所用的规则版本与日历版本",
    )
    note: Note = Field(default="", description="交办意见")


class Assign(AssignBody, OnIssue):
    pass


class RequestReassignmentBody(Strict):
    reason: Reason = Field(description="退回改派理由")
    suggested_unit_id: Slug | None = Field(default=None, description="建议改派的单位编号")


class RequestReassignment(RequestReassignmentBody, OnIssue):
    pass


class DecideReassignmentBody(Strict):
    decision: Decision = Field(description="approve 同意改派 / reject 不同意")
    reason: Reason = Field(description="审批意见")
    lead_unit_id: Slug | None = Field(default=None, description="同意时:新的首接负责单位编号(必填)")
    co_handler_ids: Units = Field(default_factory=list)
    deadline: AwareDatetime | None = Field(default=None, description="同意时:新的办理期限;省略则沿用原期限")


class DecideReassignment(DecideReassignmentBody, OnIssue):
    request_id: PathId


# -- handling ----------------------------------------------------------------------------------------------------


class AcceptBody(Strict):
    note: Note = Field(default="", description="受理意见")


class Accept(AcceptBody, OnIssue):
    pass


class AddNoteBody(Strict):
    text: Text = Field(description="进展情况")
    attachments: Attachments = Field(default_factory=list)


class AddNote(AddNoteBody, OnIssue):
    pass


class RequestExtensionBody(Strict):
    requested_deadline: AwareDatetime = Field(description="申请延至的期限(带时区的时刻)")
    reason: Reason = Field(description="延期理由")


class RequestExtension(RequestExtensionBody, OnIssue):
    pass


class DecideExtensionBody(Strict):
    decision: Decision = Field(description="approve 同意延期 / reject 不同意")
    reason: Reason = Field(description="审批意见")
    deadline: AwareDatetime | None = Field(default=None, description="同意时的新期限;省略则为申请的期限")


class DecideExtension(DecideExtensionBody, OnIssue):
    request_id: PathId


class RequestInformationBody(Strict):
    question: Text = Field(description="请提出单位补充的情况")


class RequestInformation(RequestInformationBody, OnIssue):
    pass


class ProvideInformationBody(Strict):
    answer: Text = Field(description="补充的情况")
    attachments: Attachments = Field(default_factory=list)


class ProvideInformation(ProvideInformationBody, OnIssue):
    request_id: PathId


class ResolveBody(Strict):
    answer: Text = Field(description="办结答复")
    attachments: Attachments = Field(default_factory=list)


class Resolve(ResolveBody, OnIssue):
    pass


class ConfirmBody(Strict):
    rating: StrictInt = Field(ge=1, le=5, description="满意度评分 1-5")
    comment: Note = Field(default="", description="评价")


class Confirm(ConfirmBody, OnIssue):
    pass


class RejectBody(Strict):
    reason: Reason = Field(description="退回重办的理由")


class Reject(RejectBody, OnIssue):
    pass
