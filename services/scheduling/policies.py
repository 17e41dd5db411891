"""Who may do what in scheduling, decided on the shared project directory's entry of a project."""

from __future__ import annotations

from collections.abc import Collection

from services.scheduling.domain_meetings import MeetingState, units_taking_part
from shared.auth import Principal
from shared.domain_errors import Forbidden, invalid
from shared.envelope import Role
from shared.project_directory import ProjectEntry

READ_ALL = {Role.HQ, Role.AUDITOR, Role.SUPERVISION, Role.ADMIN}


def known_project(entry: ProjectEntry | None) -> ProjectEntry:
    if entry is None:
        raise invalid("project_id", "项目不存在(或调度服务尚未同步,请带 min_seq 重试)")
    return entry


def can_write_plan(principal: Principal, project: ProjectEntry) -> None:
    """hq keeps every plan; a unit keeps the plans of the projects it is responsible for."""
    if principal.role == Role.HQ:
        return
    if principal.role == Role.UNIT and project.unit_id == principal.org_id:
        return
    raise Forbidden("只有指挥部办公室或项目责任单位可以维护实施方案")


def must_request_rebaseline(principal: Principal, project: ProjectEntry) -> None:
    """A unit does not move its own milestones: it files a change request (变更申请) and hq decides; an approval
    re-baselines the milestone through scheduling's reaction. hq keeps its direct power (it is the approver)."""
    if principal.role != Role.UNIT:
        return
    path = f"/v1/projects/{project.project_id}/change-requests"
    raise Forbidden(
        f"调整节点日期须经指挥部办公室批准,责任单位不能直接重新基准:请提交变更申请 POST {path}"
        "(kind 为 rebaseline_milestone)",
        field="milestone_id",
        reason=f"须提交变更申请(POST {path})",
        change_requests=path,
    )


def must_be_hq(principal: Principal) -> None:
    if principal.role != Role.HQ:
        raise Forbidden("只有指挥部办公室可以审批")


def can_read_project(principal: Principal, project: ProjectEntry) -> None:
    """Wide readers see every project; a unit its own; a leader what it sponsors."""
    if principal.role in READ_ALL:
        return
    if principal.role == Role.UNIT and project.unit_id == principal.org_id:
        return
    if principal.role == Role.LEADER and project.sponsor_leader_id == principal.org_id:
        return
    raise Forbidden("无权查看该项目")


def visibility(principal: Principal) -> tuple[str | None, str | None]:
    """The (unit, sponsor) a listing is narrowed to for this principal; (None, None) for wide readers."""
    if principal.role == Role.UNIT:
        return principal.org_id, None
    if principal.role == Role.LEADER:
        return None, principal.org_id
    return None, None


def can_run_meeting(principal: Principal, unit_id: str | None, chair_id: str | None) -> None:
    """hq convenes city meetings; a unit may convene its own weekly meeting; a sponsoring leader (包保市领导) the
    meetings it chairs."""
    if principal.role == Role.HQ:
        return
    if principal.role == Role.UNIT and unit_id == principal.org_id:
        return
    if principal.role == Role.LEADER and chair_id == principal.org_id:
        return
    raise Forbidden("只有指挥部办公室、本单位周调度会的责任单位或主持会议的市领导可以组织调度会")


def can_read_meeting(principal: Principal, meeting: MeetingState, sponsored: Collection[str]) -> None:
    """Wide readers see every meeting; a leader those it chairs or attends, and those about a project it sponsors
    (`sponsored`: the meeting's projects the principal sponsors); a unit (any other role) those it takes part in:
    convenes, attends, owns an agenda item or a decision. Same rule as `queries_meetings.list_meetings` in SQL."""
    if principal.role in READ_ALL:
        return
    org = principal.org_id
    if principal.role == Role.LEADER:
        if meeting.chair_id == org or any(a.org_id == org for a in meeting.attendees) or sponsored:
            return
    elif org in units_taking_part(meeting):
        return
    raise Forbidden("无权查看该调度会")


def meeting_visibility(principal: Principal) -> tuple[str | None, str | None]:
    """The (unit, leader) a meeting listing is narrowed to: (None, None) for wide readers; a leader by the leader
    rule; any other role (a unit) by the unit rule of `can_read_meeting`."""
    if principal.role in READ_ALL:
        return None, None
    if principal.role == Role.LEADER:
        return None, principal.org_id
    return principal.org_id, None


def only_wide_readers(principal: Principal) -> None:
    if principal.role not in {*READ_ALL, Role.LEADER}:
        raise Forbidden("报告面向指挥部办公室、市领导、督查室与审计")
