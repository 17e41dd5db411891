"""notification's inbox over HTTP (paths fixed by issue 10): list, unread count, mark read. The live stream is
api_stream.py; contact points, preferences, subscriptions and routing rules have modules of their own."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Response

from services.notification import handlers, policies, queries
from services.notification.commands import MarkRead
from services.notification.read_model_inbox import INBOXES
from services.notification.responses import NotificationView, UnreadCount, Written, notification_view
from shared.catalogue.notification_rules import Urgency
from shared.paging import Page, PagingDep
from shared.time_travel import AsOfDep, events_until
from shared.web import MetaDep, MinSeqDep, PrincipalDep, RuntimeDep, written

router = APIRouter(prefix="/v1", tags=["inbox"])

ID_PATTERN = r"^[A-Za-z0-9_-]{1,64}$"
OrgQuery = Annotated[
    str | None, Query(pattern=ID_PATTERN, description="机构编号(指挥部办公室、审计可查看其他机构;默认本机构)")
]


@router.get(
    "/inbox", summary="收件箱通知列表(按未读、紧急程度筛选,新的在前)", dependencies=[MinSeqDep],
    description="只有现行视图:每条通知的投递状态来自读模型,没有按时刻(as_of)的来源;某一时刻的未读数见"
    " /v1/inbox/unread-count?as_of=。",
)  # fmt: skip
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


@router.get(
    "/inbox/unread-count", summary="收件箱未读通知数(可查历史时刻 as_of)", dependencies=[MinSeqDep],
    description="给出 as_of 时为历史视图:该时刻收件箱(由事件日志折叠)的未读数。通知列表 /v1/inbox 不提供 as_of:"
    "其每条通知的投递状态来自读模型,没有按时刻的来源。",
)  # fmt: skip
async def unread_count(
    rt: RuntimeDep, principal: PrincipalDep, as_of: AsOfDep, response: Response, org_id: OrgQuery = None
) -> UnreadCount:
    target = policies.readable_org(principal, org_id)
    if as_of is not None:
        # An inbox is opened by its first notification: none by then is an empty inbox, as the live count says.
        events, _ = await events_until(rt.store, INBOXES.aggregate_type, target, as_of.moment)
        state = None
        for event in events:
            state = INBOXES.evolve(state, event)
        as_of.mark(response)
        return UnreadCount(org_id=target, unread=state.unread if state is not None else 0)
    return UnreadCount(org_id=target, unread=await queries.unread_count(rt.pool, rt.schema, target))


@router.post("/inbox/{notification_id}/read", summary="标记通知为已读(本机构收件箱;重复标记不重复记录)")
async def mark_read(
    notification_id: Annotated[str, Path(description="通知编号")], rt: RuntimeDep, meta: MetaDep, response: Response
) -> Written:
    outcome = await handlers.mark_read(rt, MarkRead(notification_id=notification_id), meta)
    return Written(**written(outcome, response, 200, location=f"/v1/inbox?org_id={outcome.aggregate_id}"))
