"""Who may read and manage what in notification (issue 10): an organisation reads and manages only its own inbox,
contact points, preferences and subscriptions; hq reads all and manages any organisation's settings; the auditor
reads all and writes nothing. Routing rules: everyone reads them, hq publishes them."""

from __future__ import annotations

from shared.auth import Principal
from shared.domain_errors import Forbidden
from shared.envelope import Role

READS_ALL = frozenset({Role.HQ, Role.AUDITOR})


def readable_org(principal: Principal, org_id: str | None) -> str:
    """The organisation whose data the caller asks for (its own when it names none)."""
    target = org_id or principal.org_id
    if target != principal.org_id and principal.role not in READS_ALL:
        raise Forbidden("只能查看本单位的通知与设置", field="org_id", reason="无权查看其他单位")
    return target


def manageable_org(principal: Principal, org_id: str | None) -> str:
    """The organisation whose settings the caller changes: its own, or any for hq; never for the auditor."""
    target = org_id or principal.org_id
    if principal.role == Role.AUDITOR:
        raise Forbidden("审计只读,不能修改", field="org_id", reason="审计只读")
    if target != principal.org_id and principal.role != Role.HQ:
        raise Forbidden("只能管理本单位的联系方式与偏好", field="org_id", reason="无权管理其他单位")
    return target


def must_be_recipient(principal: Principal, org_id: str) -> None:
    """Marking read is the recipient's own act (hq reads others' inboxes, it does not read their mail for them)."""
    if principal.org_id != org_id:
        raise Forbidden("只能标记本单位收件箱中的通知", field="notification_id", reason="不是本单位的通知")


def must_be_hq(principal: Principal, what: str) -> None:
    if principal.role != Role.HQ:
        raise Forbidden(f"只有指挥部办公室可以{what}")
