"""What the issue API answers, as typed models (the OpenAPI document shows each field, with its meaning in Chinese)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from services.issue_coordination.domain import (
    OPEN,
    STATUS_LABELS,
    InformationWait,
    IssueState,
    Origin,
    PendingRequest,
    Status,
)
from shared.catalogue.intake import AttachmentRef
from shared.catalogue.issue_coordination import (
    CATEGORY_LABELS,
    DeadlineSource,
    IssueCategory,
    IssueLevel,
    Priority,
)


class Written(BaseModel):
    """A write's answer: the object, its new version (also the ETag) and the stream sequence to wait for."""

    id: str = Field(description="对象编号")
    version: int = Field(description="对象的新版本号(用于 If-Match)")
    seq: int = Field(description="事件流序号(读取时可带 min_seq 等待读模型到达)")


class IssueView(BaseModel):
    id: str = Field(description="问题编号")
    origin: Origin = Field(description="来源:raised 单位提出 / meeting_decision 调度会议定事项")
    project_id: str | None = Field(description="项目编号(议定事项可不涉及项目)")
    programme_id: str | None = Field(description="年度重点项目批次编号")
    category: IssueCategory = Field(description="问题类别")
    category_label: str = Field(description="问题类别(中文)")
    description: str = Field(description="问题描述(议定事项为决定内容)")
    help_requested: str = Field(description="需要协调解决的事项")
    priority: Priority = Field(description="normal 一般 / urgent 紧急")
    attachments: list[AttachmentRef] = Field(description="附件")
    raised_by: str = Field(description="提出单位(议定事项为记录决定的机构),由其确认办结")
    raised_at: datetime = Field(description="提出时间")
    meeting_id: str | None = Field(description="议定事项所属调度会编号")
    decision_id: str | None = Field(description="议定事项编号")
    status: Status = Field(description="状态:raised 已提出、assigned 已交办、accepted 办理中、resolved 已办结待确认、"
                        "confirmed 已确认、withdrawn 已撤回")  # fmt: skip
    status_label: str = Field(description="状态(中文)")
    lead_unit_id: str | None = Field(description="首接负责单位")
    co_handler_ids: list[str] = Field(description="协办单位")
    level: IssueLevel | None = Field(
        description="当前层级:lead_unit 责任单位、hq 指挥部办公室、leader 包保市领导、mayor 市长"
    )
    deadline: datetime | None = Field(description="办理期限")
    deadline_source: DeadlineSource | None = Field(description="期限来源:rules 按规则计算 / hq 指挥部办公室指定")
    rule_version: int | None = Field(description="计算期限所用的规则版本")
    calendar_version: int | None = Field(description="计算期限所用的工作日历版本")
    deadline_since: datetime | None = Field(
        description="当前期限的起算时刻(交办、改派、延期或升级时);此后等待提出单位补充情况的工作日顺延期限"
    )
    escalated_to: list[str] = Field(description="已升级到的包保市领导、市长所在机构")
    overdue: bool = Field(description="是否已超期(办理中且已过期限)")
    waiting_for_raiser: bool = Field(description="是否正在等待提出单位补充情况(期限暂停计算)")
    assigned_at: datetime | None = Field(description="交办时间")
    accepted_at: datetime | None = Field(description="受理时间")
    resolved_at: datetime | None = Field(description="办结时间")
    confirmed_at: datetime | None = Field(description="确认时间")
    withdrawn_at: datetime | None = Field(description="撤回时间")
    answer: str | None = Field(description="办结答复")
    rating: int | None = Field(description="满意度评分 1-5")
    reopen_count: int = Field(description="退回重办次数")
    reassignment_request: PendingRequest | None = Field(description="待审批的改派申请")
    extension_request: PendingRequest | None = Field(description="待审批的延期申请")
    information_requests: list[InformationWait] = Field(description="请提出单位补充情况的记录")
    version: int = Field(description="版本号(用于 If-Match)")


def issue_view(state: IssueState, version: int, now: datetime) -> IssueView:
    body: dict[str, Any] = state.model_dump(exclude={"decided_request_ids", "deadline_notices", "last_changed_at"})
    return IssueView(
        **body,
        category_label=CATEGORY_LABELS[state.category],
        status_label=STATUS_LABELS[state.status],
        overdue=is_overdue(state, now),
        waiting_for_raiser=state.waiting_for_raiser is not None,
        version=version,
    )


def is_overdue(state: IssueState, now: datetime) -> bool:
    return state.status in OPEN and state.deadline is not None and state.deadline < now


class TimelineEntry(BaseModel):
    seq: int = Field(description="事件流序号")
    type: str = Field(description="事件类型")
    summary: str = Field(description="事件说明(中文)")
    recorded_at: datetime = Field(description="记录时间")
    actor_org_id: str = Field(description="操作机构")
    actor_role: str = Field(description="操作机构的角色")
    payload: dict[str, Any] = Field(description="事件内容")


EVENT_SUMMARIES = {
    "IssueRaised": "提出问题", "MeetingDecisionTracked": "调度会议定事项交办", "IssueWithdrawn": "撤回",
    "IssueAssigned": "交办", "ReassignmentRequested": "申请退回改派", "IssueReassigned": "改派",
    "ReassignmentDeclined": "不同意改派", "IssueAccepted": "受理", "IssueNoteAdded": "进展情况",
    "ExtensionRequested": "申请延期", "ExtensionDecided": "延期审批", "InformationRequested": "请提出单位补充情况",
    "InformationProvided": "提出单位补充情况", "IssueResolved": "办结", "ResolutionConfirmed": "确认办结",
    "ResolutionRejected": "退回重办", "IssueEscalated": "逐级上报(升级)",
    "IssueDeadlineNeared": "临期提醒", "IssueDeadlinePassed": "逾期提醒(已在最高层级,不再升级)",
}  # fmt: skip
