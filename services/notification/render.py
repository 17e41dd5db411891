"""What a notification says, in Chinese, per source event type (pure): a title, a body and what it links to.

The keys of RENDERERS are the event types routing rules may name (`ROUTABLE`): a rule for any other type is refused
when it is published, and the reaction handles exactly these.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from services.notification.facts import IssueFacts, MeetingFacts, OrderFacts
from shared.catalogue.intake import ChangeRequestKind
from shared.catalogue.notification import Link, LinkKind
from shared.clock import CHINA
from shared.project_directory import ProjectEntry

LEVELS = {"lead_unit": "首接责任单位", "hq": "指挥部办公室", "leader": "包保市领导", "mayor": "市长"}
COLOURS = {"red": "红灯", "yellow": "黄灯", "green": "绿灯"}
CHANGE_KINDS = {
    ChangeRequestKind.CANCEL: "取消项目", ChangeRequestKind.SUSPEND: "暂停项目", ChangeRequestKind.RESUME: "恢复项目",
    ChangeRequestKind.REBASELINE_MILESTONE: "调整节点日期", ChangeRequestKind.PLANNED_DATES: "调整计划开竣工日期",
    ChangeRequestKind.PLANNED_INVESTMENT: "调整计划投资",
}  # fmt: skip


@dataclass(frozen=True)
class Subject:
    """What a source event is about, as far as routing knows it."""

    aggregate_id: str
    project: ProjectEntry | None = None
    issue: IssueFacts | None = None
    order: OrderFacts | None = None
    meeting: MeetingFacts | None = None

    @property
    def project_name(self) -> str:
        return self.project.name if self.project is not None else "(无项目)"

    @property
    def project_id(self) -> str | None:
        return self.project.project_id if self.project is not None else None


@dataclass(frozen=True)
class Message:
    title: str
    body: str
    link: Link | None


def china_time(at: datetime) -> str:
    return at.astimezone(CHINA).strftime("%Y-%m-%d %H:%M")


def _issue_link(s: Subject) -> Link:
    return Link(kind=LinkKind.ISSUE, id=s.aggregate_id, project_id=s.project_id)


def _project_link(s: Subject) -> Link | None:
    return None if s.project_id is None else Link(kind=LinkKind.PROJECT, id=s.project_id, project_id=s.project_id)


def issue_assigned(p: Any, s: Subject) -> Message:
    return Message(f"问题交办:{s.project_name}",
                   f"{s.project_name}的问题已交办 {p.lead_unit_id} 首接负责,办理期限 {china_time(p.deadline)}。",
                   _issue_link(s))  # fmt: skip


def issue_reassigned(p: Any, s: Subject) -> Message:
    body = f"{s.project_name}的问题已改派 {p.lead_unit_id} 首接负责,办理期限 {china_time(p.deadline)}。理由:{p.reason}"
    return Message(f"问题改派:{s.project_name}", body, _issue_link(s))


def issue_escalated(p: Any, s: Subject) -> Message:
    level = LEVELS.get(p.to_level.value, p.to_level.value)
    return Message(f"问题升级至{level}:{s.project_name}",
                   f"{s.project_name}的问题已升级至{level},新的办理期限 {china_time(p.deadline)}。理由:{p.reason}",
                   _issue_link(s))  # fmt: skip


def issue_deadline_near(p: Any, s: Subject) -> Message:
    body = (f"{s.project_name}的问题办理期限为 {china_time(p.deadline)},还有 {p.working_days_left} 个工作日,"
            "请抓紧办理;确需延期的请及时申请。")  # fmt: skip
    return Message(f"问题临期({p.working_days_left} 个工作日):{s.project_name}", body, _issue_link(s))


def issue_overdue(p: Any, s: Subject) -> Message:
    level = LEVELS.get(p.level.value, p.level.value)
    body = (f"{s.project_name}的问题在{level}层级的办理期限 {china_time(p.deadline)} 已过仍未办结,"
            "已是最高层级、不再升级,请督促尽快办结。")  # fmt: skip
    return Message(f"问题逾期未办结({level}):{s.project_name}", body, _issue_link(s))


def order_deadline_near(p: Any, s: Subject) -> Message:
    link = Link(kind=LinkKind.SUPERVISION_ORDER, id=s.aggregate_id, project_id=s.project_id)
    subject = s.order.subject if s.order is not None else ""
    body = (
        f"督办事项“{subject}”办结期限为 {china_time(p.deadline)},还有 {p.working_days_left} 个工作日,请抓紧整改落实。"
    )
    return Message(f"督办临期({p.working_days_left} 个工作日):{subject}", body, link)


def order_issued(p: Any, s: Subject) -> Message:
    link = Link(kind=LinkKind.SUPERVISION_ORDER, id=s.aggregate_id, project_id=s.project_id)
    return Message(f"督办:{p.subject}", f"{p.requirement}(办结期限 {china_time(p.deadline)})", link)


def order_reminded(p: Any, s: Subject) -> Message:
    link = Link(kind=LinkKind.SUPERVISION_ORDER, id=s.aggregate_id, project_id=s.project_id)
    subject = s.order.subject if s.order is not None else ""
    return Message(f"催办:{subject}", p.text, link)


def milestone_due_soon(p: Any, s: Subject) -> Message:
    body = f"节点「{p.name}」计划 {p.due.isoformat()} 完成,还有 {p.days_left} 天。"
    return Message(f"节点临期:{s.project_name}「{p.name}」", body, _project_link(s))


def milestone_overdue(p: Any, s: Subject) -> Message:
    body = f"节点「{p.name}」计划 {p.due.isoformat()} 完成,已逾期 {p.days_overdue} 天。"
    return Message(f"节点逾期:{s.project_name}「{p.name}」", body, _project_link(s))


def report_missing(p: Any, s: Subject) -> Message:
    week = f"{p.week} " if p.week else ""
    return Message(f"未按期填报进度:{s.project_name}",
                   f"{s.project_name} {week}进度未在截止时间前填报,请尽快填报。", _project_link(s))  # fmt: skip


def light_changed(p: Any, s: Subject) -> Message:
    colour = COLOURS.get(p.colour.value, p.colour.value)
    reasons = [r for d in (p.milestones, p.investment, p.reporting, p.issues) if d is not None for r in d.reasons]
    body = f"{s.project_name}状态转为{colour}" + (f":{';'.join(reasons)}" if reasons else "。")
    return Message(f"{s.project_name}亮{colour}", body, _project_link(s))


def change_decided(approved: bool) -> Callable[[Any, Subject], Message]:
    def render(p: Any, s: Subject) -> Message:
        verdict = "已批准" if approved else "未批准"
        link = Link(kind=LinkKind.CHANGE_REQUEST, id=s.aggregate_id, project_id=s.project_id)
        return Message(f"变更申请{verdict}:{s.project_name}",
                       f"{s.project_name}的变更申请({CHANGE_KINDS.get(p.kind, p.kind)}){verdict}。意见:{p.reason}",
                       link)  # fmt: skip

    return render


def meeting_scheduled(p: Any, s: Subject) -> Message:
    link = Link(kind=LinkKind.DISPATCH_MEETING, id=s.aggregate_id)
    return Message(f"调度会通知:{p.title}", f"{p.title}定于 {china_time(p.scheduled_for)} 召开,请准时参加。", link)


def decision_recorded(p: Any, s: Subject) -> Message:
    link = Link(kind=LinkKind.DISPATCH_MEETING, id=s.aggregate_id, project_id=p.project_id)
    return Message("调度会议定事项交办", f"{p.text}(落实期限 {p.deadline.isoformat()})", link)


RENDERERS: Mapping[str, Callable[[Any, Subject], Message]] = {
    "IssueAssigned": issue_assigned, "IssueReassigned": issue_reassigned, "IssueEscalated": issue_escalated,
    "IssueDeadlineNeared": issue_deadline_near, "IssueDeadlinePassed": issue_overdue,
    "SupervisionOrderDeadlineNeared": order_deadline_near,
    "SupervisionOrderIssued": order_issued, "SupervisionOrderReminded": order_reminded,
    "MilestoneDueSoonFlagged": milestone_due_soon, "MilestoneOverdueFlagged": milestone_overdue,
    "ReportOverdueFlagged": report_missing, "StatusLightChanged": light_changed,
    "ChangeRequestApproved": change_decided(True), "ChangeRequestRejected": change_decided(False),
    "DispatchMeetingScheduled": meeting_scheduled, "MeetingDecisionRecorded": decision_recorded,
}  # fmt: skip
ROUTABLE = frozenset(RENDERERS)
