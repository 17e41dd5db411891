"""Who may do what in intake. Each rule says why in one line; a refusal is a `Forbidden` domain error (403).

Handlers call the write rules before anything is appended; read routes call the read rules.
"""

from __future__ import annotations

from services.intake.domain import ProjectState
from shared.auth import Principal
from shared.domain_errors import Forbidden
from shared.envelope import Role

READ_ALL = {Role.HQ, Role.AUDITOR, Role.SUPERVISION, Role.ADMIN}


def _require_role(principal: Principal, *roles: Role) -> None:
    if principal.role not in roles:
        allowed = "、".join(r.value for r in roles)
        raise Forbidden(f"角色 {principal.role.value} 无权执行此操作(需要:{allowed})")


def can_register(principal: Principal) -> None:
    """hq leads and coordinates (牵头抓总): it registers programmes and projects."""
    _require_role(principal, Role.HQ)


def can_coordinate(principal: Principal) -> None:
    """hq forms task forces and names sponsoring leaders; a unit cannot choose its own supervisors."""
    _require_role(principal, Role.HQ)


def can_review_reports(principal: Principal) -> None:
    """hq reviews progress reports (审核通过 / 退回): a unit cannot accept its own figures."""
    _require_role(principal, Role.HQ)


def can_manage_identity(principal: Principal) -> None:
    """Only the administrator registers organisations and issues or revokes credentials, even for one's own."""
    _require_role(principal, Role.ADMIN)


def can_write_project(principal: Principal, project: ProjectState | None) -> None:
    """hq coordinates everything; a unit writes only to the projects it is responsible for."""
    if principal.role == Role.HQ:
        return
    if principal.role == Role.UNIT and project is not None and project.unit_id == principal.org_id:
        return
    if principal.role == Role.UNIT and project is not None:
        raise Forbidden("责任单位只能修改本单位负责的项目")
    raise Forbidden(f"角色 {principal.role.value} 无权修改项目")


def can_decide_change_request(principal: Principal) -> None:
    """Only hq approves or rejects what moves a baseline (变更申请): a unit cannot decide its own request."""
    _require_role(principal, Role.HQ)


def can_read_change_request_queue(principal: Principal) -> None:
    """hq works the queue; the supervision office, auditors and the administrator may read it."""
    _require_role(principal, *sorted(READ_ALL))


def change_requests_path(project_id: str) -> str:
    return f"/v1/projects/{project_id}/change-requests"


def refuse_direct_baseline_change(principal: Principal, project_id: str, what: str, field: str) -> None:
    """A unit may not move its own baseline (cancel, suspend, planned dates or investment): it files a change
    request that hq decides. hq keeps its direct powers (it is the approver)."""
    if principal.role != Role.UNIT:
        return
    path = change_requests_path(project_id)
    raise Forbidden(
        f"{what}须经指挥部办公室批准,责任单位不能直接修改:请提交变更申请 POST {path}",
        field=field,
        reason=f"须提交变更申请(POST {path})",
        change_requests=path,
    )


def can_read_project(principal: Principal, project: ProjectState) -> None:
    """Units see their own projects, leaders the ones they sponsor; coordinators and auditors see everything."""
    if principal.role in READ_ALL:
        return
    if principal.role == Role.UNIT and project.unit_id == principal.org_id:
        return
    if principal.role == Role.LEADER and project.sponsor_leader_id == principal.org_id:
        return
    raise Forbidden("无权查看该项目")


def listing_scope(principal: Principal, unit_id: str | None) -> tuple[str | None, str | None]:
    """(unit_id, sponsor_leader_id) a project listing is restricted to; a unit may not ask for another unit's."""
    if principal.role == Role.UNIT:
        if unit_id not in (None, principal.org_id):
            raise Forbidden("责任单位只能查看本单位的项目")
        return principal.org_id, None
    if principal.role == Role.LEADER:
        return unit_id, principal.org_id
    return unit_id, None
