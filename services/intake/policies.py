"""Who may do what in intake. Each rule says why in one line."""

from __future__ import annotations

from services.intake.domain import ProjectState
from shared.auth import Principal
from shared.envelope import Role
from shared.problems import Problem

READ_ALL = {Role.HQ, Role.AUDITOR, Role.SUPERVISION, Role.ADMIN}


def can_write_project(principal: Principal, project: ProjectState | None) -> None:
    """hq coordinates everything; a unit writes only to the projects it is responsible for."""
    if principal.role == Role.HQ:
        return
    if principal.role == Role.UNIT and project is not None and project.unit_id == principal.org_id:
        return
    if principal.role == Role.UNIT and project is not None:
        raise Problem(403, "责任单位只能修改本单位负责的项目")
    raise Problem(403, f"角色 {principal.role.value} 无权修改项目")


def can_read_project(principal: Principal, project: ProjectState) -> None:
    if principal.role in READ_ALL:
        return
    if principal.role == Role.UNIT and project.unit_id == principal.org_id:
        return
    if principal.role == Role.LEADER and project.sponsor_leader_id == principal.org_id:
        return
    raise Problem(403, "无权查看该项目")


def visibility_filter(principal: Principal) -> tuple[str | None, str | None]:
    """(unit_id, sponsor_leader_id) a listing is restricted to, or (None, None) for all."""
    if principal.role == Role.UNIT:
        return principal.org_id, None
    if principal.role == Role.LEADER:
        return None, principal.org_id
    return None, None
