"""The auditors' access log over HTTP: `/v1/audit/access-log` lists the `AuditorAccessRecorded` events every
service records when an auditor reads it (docs/adr/0033), from the event index, filtered by the payload's auditor
organisation, business day and service. Generic: each record shows its payload as the recording service wrote it.
Auditors and hq read it; units, leaders and supervision are refused (policies.py)."""

from __future__ import annotations

import json
import uuid
from datetime import date, datetime
from typing import Annotated, Any

import asyncpg
from fastapi import APIRouter, Query
from pydantic import Field

from services.audit import queries
from services.audit.api_events import TOKEN, AfterSeq
from services.audit.policies import AuditReader
from services.audit.responses import ActorView
from shared.catalogue.ownership import SERVICES
from shared.paging import Page, PagingDep, page_of
from shared.problems import field_error
from shared.responses import Answer
from shared.web import MinSeqDep, RuntimeDep

ACCESS_EVENT = "AuditorAccessRecorded"

router = APIRouter(prefix="/v1/audit", tags=["audit-access"], dependencies=[AuditReader])


class AccessRecord(Answer):
    seq: int = Field(description="事件流序号")
    id: uuid.UUID = Field(description="事件编号")
    aggregate_type: str = Field(description="访问记录聚合类型(每个服务一个)")
    aggregate_id: str = Field(description="访问记录聚合编号(每个审计机构每天一个)")
    version: int = Field(description="聚合版本")
    recorded_at: datetime = Field(description="记录时间")
    actor: ActorView = Field(description="记录者")
    correlation_id: str = Field(description="关联编号")
    payload: dict[str, Any] = Field(description="访问记录(审计机构、业务日、服务、请求、应答状态等)")


def access_record(row: asyncpg.Record) -> AccessRecord:
    return AccessRecord(
        seq=row["seq"], id=row["event_id"], aggregate_type=row["aggregate_type"], aggregate_id=row["aggregate_id"],
        version=row["version"], recorded_at=row["recorded_at"],
        actor=ActorView(org_id=row["actor_org"], role=row["actor_role"], user=row["actor_user"],
                        on_behalf_of=row["on_behalf_of"]),
        correlation_id=row["correlation_id"], payload=json.loads(row["payload"]),
    )  # fmt: skip


@router.get("/access-log", summary="审计访问记录(按审计机构、业务日、服务筛选)", dependencies=[MinSeqDep])
async def access_log(
    rt: RuntimeDep,
    paging: PagingDep,
    org_id: Annotated[str | None, Query(pattern=TOKEN, description="审计机构编号")] = None,
    day: Annotated[date | None, Query(description="业务日(中国时间),如 2024-01-02")] = None,
    service: Annotated[str | None, Query(pattern=TOKEN, description="被访问的服务,如 intake")] = None,
    after_seq: AfterSeq = 0,
) -> Page[AccessRecord]:
    if service is not None and service not in SERVICES:
        raise field_error("query.service", f"未知服务(可选:{'、'.join(sorted(SERVICES))})")
    wanted = {"org_id": org_id, "day": day.isoformat() if day else None, "service": service}
    filters = queries.EventFilters(
        types=[ACCESS_EVENT], payload_equals={k: v for k, v in wanted.items() if v is not None}
    )
    page = await queries.list_events(
        rt.pool, rt.schema, filters, after_seq=after_seq, limit=paging.limit, offset=paging.offset
    )
    return page_of(AccessRecord, [access_record(r) for r in page.rows], page.total, paging)
