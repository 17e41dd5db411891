"""notification's inbox over HTTP (paths fixed by issue 10): list, unread count, mark read. The live stream is
api_stream.py; contact points, preferences, subscriptions and routing rules have modules of their own."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Response

from services.notification import handlers, history, policies, queries
from services.notification.commands import MarkRead
from services.notification.read_model_inbox import INBOXES
from services.notification.responses import NotificationView, UnreadCount, Written, notification_view
from shared.catalogue.notification_rules import Urgency
from shared.paging import Page, PagingDep
from shared.time_travel import AsOfDep, folded_until
from shared.web import MetaDep, MinSeqDep, PrincipalDep, RuntimeDep, written

router = APIRouter(prefix="/v1", tags=["inbox"])

ID_PATTERN = r"^[A-Za-z0-9_-]{1,64}$"
OrgQuery = Annotated[
    str | None, Query(pattern=ID_PATTERN, description="机构编号(指挥部办公室、审计可查看其他机构;默认本机构)")
]


INBOX_AS_OF = (
    "给出 as_of 时为历史视图:该时刻收件箱中已有的通知(由该收件箱的事件日志折叠),各条的已读状态、投递状态、尝试次数与"
    "汇总情况均为该时刻的值(与现行视图同样由事件折叠而得);之后才生成的通知不列出。该时刻收件箱尚无通知时为空列表"
    "(与现行视图一致,不返回 404)。"
)


@router.get(
    "/inbox", summary="收件箱通知列表(按未读、紧急程度筛选,新的在前;可查历史时刻 as_of)", dependencies=[MinSeqDep],
    description=INBOX_AS_OF,
)  # fmt: skip
async def list_inbox(
    rt: RuntimeDep,
    principal: PrincipalDep,
    paging: PagingDep,
    as_of: AsOfDep,
    response: Response,
    org_id: OrgQuery = None,
    unread: Annotated[bool | None, Query(description="true 只列未读,false 只列已读(给出 as_of 时按该时刻)")] = None,
    urgency: Annotated[Urgency | None, Query(description="紧急程度")] = None,
) -> Page[NotificationView]:
    filters = queries.InboxFilters(
        org_id=policies.readable_org(principal, org_id), unread=unread, urgency=urgency and urgency.value
    )
    if as_of is not None:
        _, events = await folded_until(rt.store, INBOXES, filters.org_id, as_of.moment)
        then = history.filtered(history.notification_rows(events), filters)
        as_of.mark(response)
        return Page(items=[notification_view(r) for r in paging.cut(then)], total=len(then), **paging.echo())
    rows, total = await queries.list_inbox(rt.pool, rt.schema, filters, limit=paging.limit, offset=paging.offset)
    return Page(items=[notification_view(r) for r in rows], total=total, **paging.echo())


@router.get(
    "/inbox/unread-count", summary="收件箱未读通知数(可查历史时刻 as_of)", dependencies=[MinSeqDep],
    description="给出 as_of 时为历史视图:该时刻收件箱(由事件日志折叠)的未读数;该时刻尚无通知时为 0。",
)  # fmt: skip
async def unread_count(
    rt: RuntimeDep, principal: PrincipalDep, as_of: AsOfDep, response: Response, org_id: OrgQuery = None
) -> UnreadCount:
    target = policies.readable_org(principal, org_id)
    if as_of is not None:
        # An inbox is opened by its first notification: none by then is an empty inbox, as the live count says.
        state, _ = await folded_until(rt.store, INBOXES, target, as_of.moment)
        as_of.mark(response)
        return UnreadCount(org_id=target, unread=state.unread if state is not None else 0)
    return UnreadCount(org_id=target, unread=await queries.unread_count(rt.pool, rt.schema, target))


@router.post("/inbox/{notification_id}/read", summary="标记通知为已读(本机构收件箱;重复标记不重复记录)")
async def mark_read(
    notification_id: Annotated[str, Path(description="通知编号")], rt: RuntimeDep, meta: MetaDep, response: Response
) -> Written:
    outcome = await handlers.mark_read(rt, MarkRead(notification_id=notification_id), meta)
    return Written(**written(outcome, response, 200, location=f"/v1/inbox?org_id={outcome.aggregate_id}"))
