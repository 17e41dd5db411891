"""Who may read the audit service (issue 11): the auditor and hq read every audit endpoint; units, leaders and
supervision are refused with 403. Nobody writes through this module: the verification run is a read of the log."""

from __future__ import annotations

from fastapi import Depends

from shared.auth import Principal
from shared.contract import may_answer
from shared.envelope import Role
from shared.problems import Problem
from shared.web import PrincipalDep

AUDIT_READERS = frozenset({Role.AUDITOR, Role.HQ})


@may_answer(403)
async def audit_reader(principal: PrincipalDep) -> Principal:
    if principal.role not in AUDIT_READERS:
        raise Problem(403, "只有审计与指挥部办公室可以查看审计信息", errors=[
            {"field": "Authorization", "reason": f"角色 {principal.role.value} 无权查看审计信息"}])  # fmt: skip
    return principal


AuditReader = Depends(audit_reader)
