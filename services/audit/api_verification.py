"""Chain verification over HTTP: POST `/v1/audit/verification` starts a full run over the log (one at a time across
replicas), GET answers the last run's result, `/v1/audit/verification/{run_id}` a given one (verification.py)."""

from __future__ import annotations

import uuid
from typing import Annotated

import asyncpg
from fastapi import APIRouter, Depends, Path, Request, Response

from services.audit import verification
from services.audit.policies import AuditReader
from services.audit.responses import ActorView, ChainBreakView, VerificationRunView
from shared.contract import may_answer
from shared.paging import Paging, PagingDep
from shared.problems import Problem
from shared.web import PrincipalDep, RuntimeDep

router = APIRouter(prefix="/v1/audit/verification", tags=["audit-verification"], dependencies=[AuditReader])


async def run_view(rt: RuntimeDep, row: asyncpg.Record, paging: Paging) -> VerificationRunView:
    breaks, total = await verification.run_breaks(rt.pool, rt.schema, row["id"], limit=paging.limit,
                                                  offset=paging.offset)  # fmt: skip
    status = row["status"]
    return VerificationRunView(
        id=row["id"], status=status,
        requested_by=ActorView(org_id=row["requested_by_org"], role=row["requested_by_role"], user=None,
                               on_behalf_of=None),
        requested_at=row["requested_at"], finished_at=row["finished_at"], until_seq=row["until_seq"],
        events=row["events"], aggregates=row["aggregates"], broken_aggregates=row["broken_aggregates"],
        intact=(row["broken_aggregates"] == 0) if status == "completed" else None, error=row["error"],
        breaks=[ChainBreakView(**dict(b)) for b in breaks], breaks_total=total, **paging.echo(),
    )  # fmt: skip


@router.post("", status_code=202, summary="发起一次全量哈希链校验(已有进行中的校验时返回该校验)")
async def start(rt: RuntimeDep, principal: PrincipalDep, request: Request, response: Response) -> VerificationRunView:
    runs: verification.Verifications = request.app.state.verifications
    run_id, _ = await runs.start(principal)
    row = await verification.run_record(rt.pool, rt.schema, run_id)
    assert row is not None  # just written, or running
    response.headers["Location"] = f"/v1/audit/verification/{run_id}"
    return await run_view(rt, row, Paging(limit=100, offset=0))


@may_answer(404)
async def last_run(rt: RuntimeDep) -> asyncpg.Record:
    row = await verification.run_record(rt.pool, rt.schema, None)
    if row is None:
        raise Problem(404, "尚未进行过哈希链校验:请先 POST /v1/audit/verification")
    return row


@router.get("", summary="最近一次哈希链校验的结果")
async def last(
    rt: RuntimeDep, paging: PagingDep, row: Annotated[asyncpg.Record, Depends(last_run)]
) -> VerificationRunView:
    return await run_view(rt, row, paging)


@router.get("/{run_id}", summary="指定哈希链校验的结果")
async def one(run_id: Annotated[uuid.UUID, Path(description="校验编号")], rt: RuntimeDep,
              paging: PagingDep) -> VerificationRunView:  # fmt: skip
    row = await verification.run_record(rt.pool, rt.schema, run_id)
    if row is None:
        raise Problem(404, f"没有编号为 {run_id} 的校验", errors=[{"field": "path.run_id", "reason": "不存在"}])
    return await run_view(rt, row, paging)
