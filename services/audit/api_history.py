"""One aggregate's history and its field-level diff between two record-time moments, from the event index:
`/v1/audit/aggregates/{type}/{id}/history` and `.../diff?from=&to=` (the diff's semantics: domain.py)."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated

import asyncpg
from fastapi import APIRouter, Path, Query

from services.audit import domain, queries
from services.audit.api_events import TOKEN
from services.audit.policies import AuditReader
from services.audit.responses import AggregateDiff, EventView, event_ref, event_view
from shared.paging import Page, PagingDep, page_of
from shared.problems import Problem, field_error
from shared.web import MinSeqDep, RuntimeDep

router = APIRouter(prefix="/v1/audit/aggregates", tags=["audit-history"], dependencies=[AuditReader])

AggregateType = Annotated[str, Path(pattern=TOKEN, description="聚合类型,例如 project、issue")]
AggregateId = Annotated[str, Path(pattern=TOKEN, description="聚合编号")]


def not_found(aggregate_type: str, aggregate_id: str) -> Problem:
    return Problem(404, f"事件索引中没有聚合 {aggregate_type}/{aggregate_id} 的事件",
                   errors=[{"field": "path.aggregate_id", "reason": "没有该聚合的事件"}])  # fmt: skip


@router.get("/{aggregate_type}/{aggregate_id}/history", summary="聚合的完整历史(每个事件的操作者、起因与关联编号)",
            dependencies=[MinSeqDep])  # fmt: skip
async def history(
    aggregate_type: AggregateType, aggregate_id: AggregateId, rt: RuntimeDep, paging: PagingDep
) -> Page[EventView]:
    filters = queries.EventFilters(aggregate_type=aggregate_type, aggregate_id=aggregate_id)
    page = await queries.list_events(rt.pool, rt.schema, filters, after_seq=0, limit=paging.limit, offset=paging.offset)
    if page.total == 0:
        raise not_found(aggregate_type, aggregate_id)
    return page_of(EventView, [event_view(r) for r in page.rows], page.total, paging)


def fields_until(rows: list[asyncpg.Record], moment: datetime) -> tuple[domain.FieldState, int]:
    """The fields of the aggregate as recorded at `moment` (events recorded at or before it), and its version."""
    known = [r for r in rows if r["recorded_at"] <= moment]
    state = domain.fold((domain.Setter(r["seq"], r), json.loads(r["payload"])) for r in known)
    return state, known[-1]["version"] if known else 0


@router.get("/{aggregate_type}/{aggregate_id}/diff", summary="聚合在两个记录时刻之间的字段级差异",
            dependencies=[MinSeqDep])  # fmt: skip
async def diff(
    aggregate_type: AggregateType,
    aggregate_id: AggregateId,
    rt: RuntimeDep,
    moment_from: Annotated[datetime, Query(alias="from", description="前一时刻(记录时间,须带时区)")],
    moment_to: Annotated[datetime | None, Query(alias="to", description="后一时刻(记录时间,须带时区;默认现在)")] = None,
) -> AggregateDiff:
    """只比较事件载荷中的字段(按记录时间依次叠加)。所属服务在折叠时派生的字段(状态、当前层级、基准日期等)不在其中:
    请以相同的 from、to 时刻调用所属服务的单聚合读取并带 `as_of`(如 `/v1/projects/{id}?as_of=`),见 docs/audit.md §8。"""
    to = moment_to if moment_to is not None else rt.clock.now()
    for name, moment in (("from", moment_from), ("to", to)):
        if moment.tzinfo is None:
            raise field_error(f"query.{name}", "须带时区,例如 2024-01-01T08:00:00+08:00")
    if moment_from > to:
        raise field_error("query.to", "不能早于 from")
    rows = await queries.aggregate_events(rt.pool, rt.schema, aggregate_type, aggregate_id)
    if not rows:
        raise not_found(aggregate_type, aggregate_id)
    before, version_from = fields_until(rows, moment_from)
    after, version_to = fields_until(rows, to)
    between = [r for r in rows if moment_from < r["recorded_at"] <= to]
    changes = [
        {"field": c.field, "before": c.before, "after": c.after, "before_set": c.before_set, "after_set": c.after_set,
         "changed_by": event_ref(c.changed_by.event)}
        for c in domain.diff(before, after)
    ]  # fmt: skip
    return AggregateDiff.model_validate({
        "aggregate_type": aggregate_type, "aggregate_id": aggregate_id, "from": moment_from, "to": to,
        "version_from": version_from, "version_to": version_to, "events": [event_ref(r) for r in between],
        "changes": changes,
    })  # fmt: skip
