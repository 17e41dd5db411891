"""Who may do what in scheduling."""

from __future__ import annotations

from shared.auth import Principal
from shared.envelope import Role
from shared.problems import Problem

READ_ALL = {Role.HQ, Role.AUDITOR, Role.SUPERVISION, Role.ADMIN}


def can_write_plan(principal: Principal, unit_id: str | None) -> None:
    """hq keeps every plan; a unit keeps the plans of the projects it is responsible for."""
    if principal.role == Role.HQ:
        return
    if principal.role == Role.UNIT and unit_id is not None and unit_id == principal.org_id:
        return
    raise Problem(403, "只有指挥部办公室或项目责任单位可以维护实施方案")


def can_read_project(principal: Principal, unit_id: str, sponsor_id: str | None) -> None:
    if principal.role in READ_ALL:
        return
    if principal.role == Role.UNIT and unit_id == principal.org_id:
        return
    if principal.role == Role.LEADER and sponsor_id == principal.org_id:
        return
    raise Problem(403, "无权查看该项目")


def visibility(principal: Principal) -> tuple[str | None, str | None]:
    if principal.role == Role.UNIT:
        return principal.org_id, None
    if principal.role == Role.LEADER:
        return None, principal.org_id
    return None, None


def can_run_meeting(principal: Principal, unit_id: str | None) -> None:
    """hq convenes city meetings; a unit may convene its own weekly meeting."""
    if principal.role == Role.HQ:
        return
    if principal.role == Role.UNIT and unit_id == principal.org_id:
        return
    raise Problem(403, "只有指挥部办公室(或本单位周调度会的责任单位)可以组织调度会")
