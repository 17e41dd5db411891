"""`GET /v1/inbox/stream`: the inbox as Server-Sent Events (stream.py), documented as text/event-stream so that the
gateway routes it and clients know what they get."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Request
from sse_starlette import EventSourceResponse

from services.notification import policies
from services.notification.api import OrgQuery
from services.notification.stream import HEARTBEAT_S, InboxWatch, latest_seq, notification_events
from shared.problems import Problem
from shared.web import PrincipalDep, RuntimeDep

router = APIRouter(prefix="/v1", tags=["inbox"])

STREAM_DOC = {
    200: {
        "description": (
            "text/event-stream:每条通知一个事件(event: notification,id 为其事件流序号,data 为通知 JSON,"
            f"字段同 NotificationView);每 {HEARTBEAT_S} 秒一次心跳注释。断线重连时带 Last-Event-ID 续传,不丢不重。"
        ),
        "content": {"text/event-stream": {"schema": {"type": "string"}}},
    }
}


def _cursor(last_event_id: str | None) -> int | None:
    if last_event_id is None:
        return None
    if not last_event_id.isascii() or not last_event_id.isdigit() or len(last_event_id) > 18:
        raise Problem(422, "Last-Event-ID 应为上一事件的编号(事件流序号)",
                      errors=[{"field": "Last-Event-ID", "reason": "应为非负整数"}])  # fmt: skip
    return int(last_event_id)


@router.get(
    "/inbox/stream", summary="收件箱实时推送(Server-Sent Events;带 Last-Event-ID 续传)", response_model=None,
    response_class=EventSourceResponse, responses=STREAM_DOC,  # type: ignore[arg-type]
)  # fmt: skip
async def stream_inbox(
    request: Request,
    rt: RuntimeDep,
    principal: PrincipalDep,
    org_id: OrgQuery = None,
    last_event_id: Annotated[
        str | None, Header(alias="Last-Event-ID", description="上次收到的事件编号:从其后续传")
    ] = None,
) -> EventSourceResponse:
    org = policies.readable_org(principal, org_id)
    cursor = _cursor(last_event_id)
    if cursor is None:
        cursor = await latest_seq(rt.pool, rt.schema, org)
    watch: InboxWatch = request.app.state.inbox_watch
    return EventSourceResponse(notification_events(watch, org, cursor), ping=HEARTBEAT_S)
