"""Who may see and do what with an issue, decided on the issue and the shared project directory's entry.

Seeing (issue 9): the raising unit and the project's unit; the lead and co-handlers what is assigned to them; hq
and supervision everything; a leader what is escalated to it or on the projects it sponsors; the auditor reads
everything and writes nothing. The same rule in SQL narrows the lists (queries.visible_to).
"""

from __future__ import annotations

from typing import NamedTuple

from services.issue_coordination.domain import IssueState, bad_transition
from shared.auth import Principal
from shared.domain_errors import Forbidden, invalid
from shared.envelope import Role
from shared.project_directory import ProjectEntry

READ_ALL = frozenset({Role.HQ, Role.SUPERVISION, Role.AUDITOR})
# The levels at which an issue is a leader's (逐级上报 beyond hq): its sponsor's, then the mayor's.
LEADER_LEVELS = frozenset({"leader", "mayor"})


def known_project(entry: ProjectEntry | None) -> ProjectEntry:
    if entry is None:
        raise invalid("project_id", "项目不存在(或问题协调服务尚未同步,请带 min_seq 重试)")
    return entry


def can_raise(principal: Principal, project: ProjectEntry) -> None:
    """The project's responsible unit or a unit of its task force (专班) raises its problems."""
    if principal.role == Role.UNIT and (
        project.unit_id == principal.org_id or principal.org_id in project.task_force_units
    ):
        return
    raise Forbidden("只有项目责任单位或项目专班成员单位可以提出问题", field="project_id", reason="无权为该项目提出问题")


def may_see(principal: Principal, issue: IssueState, project: ProjectEntry | None) -> bool:
    if principal.role in READ_ALL:
        return True
    org = principal.org_id
    if org == issue.raised_by or org in issue.handlers():  # who raised it (or recorded the decision), who handles it
        return True
    if principal.role == Role.UNIT:
        return project is not None and project.unit_id == org
    if principal.role == Role.LEADER:  # its sponsored projects', and what was escalated to it (逐级上报)
        return (project is not None and project.sponsor_leader_id == org) or org in issue.escalated_to
    return False


def can_read(principal: Principal, issue: IssueState, project: ProjectEntry | None) -> None:
    if not may_see(principal, issue, project):
        raise Forbidden("无权查看该问题")


def _must_see(principal: Principal, issue: IssueState, project: ProjectEntry | None) -> None:
    """A writer that may not even see the issue learns nothing of its state: 403 before any 409."""
    can_read(principal, issue, project)


def must_be_hq(principal: Principal, what: str) -> None:
    if principal.role != Role.HQ:
        raise Forbidden(f"只有指挥部办公室可以{what}")


def can_assign(principal: Principal, issue: IssueState, project: ProjectEntry | None) -> None:
    """hq assigns. The lead (or a co-handler) trying to pass the issue on is a bad transition, not a missing right:
    an assigned issue moves to another unit only through a reassignment request hq decides (退回改派)."""
    if principal.role == Role.HQ:
        return
    if principal.role == Role.UNIT and principal.org_id in issue.handlers():
        raise bad_transition(issue, "由承办单位自行转交,请提交改派申请(POST /v1/issues/{id}/reassignment-requests)")
    _must_see(principal, issue, project)
    raise Forbidden("只有指挥部办公室可以交办问题")


def can_decide(principal: Principal, issue: IssueState, project: ProjectEntry | None, what: str) -> None:
    """hq's decisions on requests (reassignment, extension)."""
    _must_see(principal, issue, project)
    must_be_hq(principal, what)


def must_be_lead(principal: Principal, issue: IssueState, project: ProjectEntry | None, what: str) -> None:
    _must_see(principal, issue, project)
    if principal.role != Role.UNIT or principal.org_id != issue.lead_unit_id:
        raise Forbidden(f"只有首接负责单位可以{what}")


def must_be_raiser(principal: Principal, issue: IssueState, project: ProjectEntry | None, what: str) -> None:
    _must_see(principal, issue, project)
    if principal.org_id != issue.raised_by:
        raise Forbidden(f"只有问题提出单位可以{what}")


def can_add_note(principal: Principal, issue: IssueState, project: ProjectEntry | None) -> None:
    """Progress notes: the handlers, hq, and the raiser."""
    _must_see(principal, issue, project)
    if principal.role == Role.HQ:
        return
    if principal.role == Role.UNIT and (principal.org_id in issue.handlers() or principal.org_id == issue.raised_by):
        return
    raise Forbidden("只有承办单位、提出单位或指挥部办公室可以添加进展")


class Visibility(NamedTuple):
    """How a listing is narrowed: to the issues `org_id` raised or handles, and those on the projects whose
    `project_column` (unit_id or sponsor_leader_id) in the project directory is `org_id`. `org_id` None: all."""

    org_id: str | None
    project_column: str | None


def visibility(principal: Principal) -> Visibility:
    if principal.role in READ_ALL:
        return Visibility(None, None)
    column = {Role.UNIT: "unit_id", Role.LEADER: "sponsor_leader_id"}.get(principal.role)
    return Visibility(principal.org_id, column)
