"""notification's inbox over HTTP (paths fixed by issue 10): list, unread count, mark read. The live stream is
api_stream.py; contact points, preferences, subscriptions and routing rules have modules of their own."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Response

from services.notification import handlers, policies, queries
from services.notification.commands import MarkRead
from services.notification.responses import NotificationView, UnreadCount, Written, notification_view
from shared.catalogue.notification_rules import Urgency
from shared.paging import Page, PagingDep
from shared.web import MetaDep, MinSeqDep, PrincipalDep, RuntimeDep, written

router = APIRouter(prefix="/v1", tags=["inbox"])

ID_PATTERN = r"^[A-Za-z0-9_-]{1,64}$"
OrgQuery = Annotated[
    str | None, Query(pattern=ID_PATTERN, description="机构编号(指挥部办公室、审计可查看其他机构;默认本机构)")
]


@router.get("/inbox", summary="收件箱通知列表(按未读、紧急程度筛选,新的在前)", dependencies=[MinSeqDep])
async def list_inbox(
    rt: RuntimeDep,
    principal: PrincipalDep,
    paging: PagingDep,
    org_id: OrgQuery = None,
    unread: Annotated[bool | None, Query(description="true 只列未读,false 只列已读")] = None,
    urgency: Annotated[Urgency | None, Query(description="紧急程度")] = None,
) -> Page[NotificationView]:
    filters = queries.InboxFilters(
        org_id=policies.readable_org(principal, org_id), unread=unread, urgency=urgency and urgency.value
    )
    rows, total = await queries.list_inbox(rt.pool, rt.schema, filters, limit=paging.limit, offset=paging.offset)
    return Page(items=[notification_view(r) for r in rows], total=total, **paging.echo())


@router.get("/inbox/unread-count", summary="收件箱未读通知数", dependencies=[MinSeqDep])
async def unread_count(rt: RuntimeDep, principal: PrincipalDep, org_id: OrgQuery = None) -> UnreadCount:
    target = policies.readable_org(principal, org_id)
    return UnreadCount(org_id=target, unread=await queries.unread_count(rt.pool, rt.schema, target))


@router.post("/inbox/{notification_id}/read", summary="标记通知为已读(本机构收件箱;重复标记不重复记录)")
async def mark_read(
    notification_id: Annotated[str, Path(description="通知编号")], rt: RuntimeDep, meta: MetaDep, response: Response
) -> Written:
    outcome = await handlers.mark_read(rt, MarkRead(notification_id=notification_id), meta)
    return Written(**written(outcome, response, 200, location=f"/v1/inbox?org_id={outcome.aggregate_id}"))
