"""The event index over HTTP: `/v1/audit/events` (filters, keyset paging) and `/v1/audit/events/{id}`."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Path, Query

from services.audit import queries
from services.audit.policies import AuditReader
from services.audit.responses import EventPage, EventView, event_view
from shared.paging import PagingDep
from shared.problems import Problem, field_error
from shared.web import MinSeqDep, RuntimeDep

router = APIRouter(prefix="/v1/audit", tags=["audit-events"], dependencies=[AuditReader])

TOKEN = r"^[A-Za-z0-9_-]{1,128}$"
TypeToken = Annotated[str | None, Query(pattern=TOKEN, description="聚合类型")]
AfterSeq = Annotated[int, Query(ge=0, description="只列出该流序号之后的事件(按键翻页:传上一页最后一条的 seq)")]
RecordedFrom = Annotated[datetime | None, Query(description="记录时间起(含),须带时区")]
RecordedTo = Annotated[datetime | None, Query(description="记录时间止(不含),须带时区")]


def record_time_range(recorded_from: datetime | None, recorded_to: datetime | None) -> None:
    for name, moment in (("recorded_from", recorded_from), ("recorded_to", recorded_to)):
        if moment is not None and moment.tzinfo is None:
            raise field_error(f"query.{name}", "须带时区,例如 2024-01-01T08:00:00+08:00")
    if recorded_from is not None and recorded_to is not None and recorded_from > recorded_to:
        raise field_error("query.recorded_to", "不能早于 recorded_from")


@router.get("/events", summary="事件列表(按聚合、关联编号、类型、记录时间筛选,按流序号排列)",
            dependencies=[MinSeqDep])  # fmt: skip
async def list_events(
    rt: RuntimeDep,
    paging: PagingDep,
    aggregate_type: TypeToken = None,
    aggregate_id: Annotated[str | None, Query(pattern=TOKEN, description="聚合编号")] = None,
    correlation_id: Annotated[
        str | None, Query(min_length=1, max_length=200, description="关联编号:同一请求在各服务引起的全部事件")
    ] = None,
    type: Annotated[list[str] | None, Query(description="事件类型(可重复,任一匹配)", max_length=50)] = None,
    recorded_from: RecordedFrom = None,
    recorded_to: RecordedTo = None,
    after_seq: AfterSeq = 0,
) -> EventPage:
    """事件按流序号排列。翻页以 `after_seq` 为键(传上一页最后一条的 seq,看 `has_more` 是否还有);`total`:有筛选条件时为
    精确条数,无筛选条件时为事件索引的最高流序号(高水位,不逐条计数,见 `total_exact`)。"""
    record_time_range(recorded_from, recorded_to)
    for value in type or []:
        if not 1 <= len(value) <= 100:
            raise field_error("query.type", "事件类型长度须为 1-100 个字符")
    filters = queries.EventFilters(
        aggregate_type=aggregate_type, aggregate_id=aggregate_id, correlation_id=correlation_id, types=type or [],
        recorded_from=recorded_from, recorded_to=recorded_to,
    )  # fmt: skip
    page = await queries.list_events(
        rt.pool, rt.schema, filters, after_seq=after_seq, limit=paging.limit, offset=paging.offset
    )
    return EventPage(items=[event_view(r) for r in page.rows], total=page.total, total_exact=page.total_exact,
                     has_more=page.has_more, **paging.echo())  # fmt: skip


@router.get("/events/{event_id}", summary="按编号查看一个事件", dependencies=[MinSeqDep])
async def get_event(event_id: Annotated[uuid.UUID, Path(description="事件编号")], rt: RuntimeDep) -> EventView:
    row = await queries.event_by_id(rt.pool, rt.schema, str(event_id))
    if row is None:
        raise Problem(404, f"事件 {event_id} 不在事件索引中", errors=[{"field": "path.event_id", "reason": "不存在"}])
    return event_view(row)
