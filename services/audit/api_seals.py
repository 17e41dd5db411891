"""Seals over HTTP (issue 11): the public key, the seals, inclusion and consistency proofs, history bundles.

The auditor and hq read them; nobody writes but the seal timer and hq's on-demand seal (`POST /v1/audit/seals`).
"""

from __future__ import annotations

import os
import tempfile
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from fastapi.responses import FileResponse
from starlette.background import BackgroundTask

from services.audit import proofs
from services.audit.api_events import record_time_range
from services.audit.bundle import IndexBehind, NothingSealed, Scope, export
from services.audit.policies import AuditReader
from services.audit.responses_seals import (
    ConsistencyView,
    InclusionView,
    PublicKeysView,
    PublicKeyView,
    SealView,
    seal_ref,
    seal_view,
)  # fmt: skip
from services.audit.seal_keeper import SealKeeper
from services.audit.sealing import Sealer, SealRecord, catch_up, list_seals, seal, seal_by_number
from services.audit.tree_store import leaf_of
from shared.auth import Principal
from shared.contract import may_answer
from shared.envelope import Role
from shared.paging import Page, PagingDep, page_of
from shared.problems import Problem, field_error
from shared.web import PrincipalDep, RuntimeDep

router = APIRouter(prefix="/v1/audit", tags=["audit-seals"])
TOKEN = r"^[A-Za-z0-9_-]{1,128}$"


async def sealer_of(request: Request, rt: RuntimeDep) -> Sealer:
    keeper: SealKeeper = request.app.state.seal_keeper
    return await keeper.sealer(rt)


SealerDep = Annotated[Sealer, Depends(sealer_of)]


@may_answer(403)
async def hq_only(principal: PrincipalDep) -> Principal:
    if principal.role is not Role.HQ:
        raise Problem(403, "只有指挥部办公室可以立即封存", errors=[
            {"field": "Authorization", "reason": f"角色 {principal.role.value} 无权封存"}])  # fmt: skip
    return principal


@may_answer(404)
async def names_a_seal() -> None:
    """Documents the 404 of an operation that names a seal in its query (shared.contract)."""


@may_answer(504)
async def waits_for_index() -> None:
    """Documents the 504 of an export whose event index lags behind the newest seal (shared.contract)."""


@may_answer(409)
async def may_conflict() -> None:
    """Documents the 409 of an operation that meets the log in a state it cannot answer for (shared.contract)."""


Names = Depends(names_a_seal)
Conflicts = Depends(may_conflict)


async def _seal(sealer: Sealer, number: int, field: str) -> SealRecord:
    async with sealer.pool.acquire() as conn:
        await catch_up(conn, sealer.schema, sealer.store)
        found = await seal_by_number(conn, sealer.schema, number)
    if found is None:
        raise Problem(404, f"封存 #{number} 不存在", errors=[{"field": field, "reason": "不存在"}])
    return found


@router.get("/public-key", summary="平台签名公钥(Ed25519,含轮换前的)", dependencies=[AuditReader])
async def public_key(sealer: SealerDep) -> PublicKeysView:
    keys = [PublicKeyView.model_validate(k.document()) for k in sealer.signer.keys().values()]
    return PublicKeysView(current_key_id=sealer.signer.key_id, keys=keys)


@router.get("/seals", summary="封存列表(按封存序号)", dependencies=[AuditReader])
async def list_all(sealer: SealerDep, paging: PagingDep) -> Page[SealView]:
    async with sealer.pool.acquire() as conn:
        newest = await catch_up(conn, sealer.schema, sealer.store)
        total = newest.seal.seal_number if newest else 0
        records = await list_seals(conn, sealer.schema, after=paging.offset, limit=paging.limit)
    return page_of(SealView, [seal_view(r) for r in records], total, paging)


@router.post("/seals", summary="立即封存(指挥部办公室)", status_code=201, dependencies=[Depends(hq_only), Conflicts],
             responses={200: {"model": SealView, "description": "自上次封存后没有新事件:返回上次的封存"}})  # fmt: skip
async def seal_now(sealer: SealerDep, principal: PrincipalDep, response: Response) -> SealView:
    """封存事件流直到当前末尾;若自上次封存后没有新事件,返回上次的封存(200)。"""
    record, made = await seal(sealer, trigger="on_demand", actor=principal.actor())
    if record is None:
        raise Problem(409, "事件流为空,没有可封存的事件")
    if not made:
        response.status_code = 200
    return seal_view(record)


@router.get("/seals/consistency", summary="两次封存之间的一致性证明(RFC 6962)",
            dependencies=[AuditReader, Names, Conflicts])  # fmt: skip
async def consistency(
    sealer: SealerDep,
    first: Annotated[int, Query(ge=1, description="较早的封存序号")],
    second: Annotated[int, Query(ge=1, description="较晚的封存序号")],
) -> ConsistencyView:
    if first > second:
        raise field_error("second", "不能小于 first")
    a, b = await _seal(sealer, first, "first"), await _seal(sealer, second, "second")
    async with sealer.pool.acquire() as conn:
        try:
            proof = await proofs.consistency(conn, sealer.schema, sealer.store, a, b)
        except proofs.TreeMismatch as exc:
            raise Problem(409, f"事件流与封存不符:{exc}") from exc
    return ConsistencyView(first=seal_ref(a), second=seal_ref(b), proof=proof)


@router.get("/seals/{n}", summary="一次封存", dependencies=[AuditReader])
async def get_seal(sealer: SealerDep, n: Annotated[int, Path(ge=1, description="封存序号")]) -> SealView:
    return seal_view(await _seal(sealer, n, "n"))


@router.get("/seals/{n}/inclusion", summary="事件包含在封存中的证明(RFC 6962 审计路径)",
            dependencies=[AuditReader, Conflicts])  # fmt: skip
async def inclusion(
    sealer: SealerDep,
    n: Annotated[int, Path(ge=1, description="封存序号")],
    seq: Annotated[int, Query(ge=1, description="事件流序号")],
) -> InclusionView:
    record = await _seal(sealer, n, "n")
    if seq > record.seal.tree_size:
        raise field_error("seq", f"封存 #{n} 只覆盖流序号 1..{record.seal.tree_size}")
    stored = await sealer.store.js.get_msg(sealer.store.stream, seq=seq, direct=True)
    assert stored.data is not None
    async with sealer.pool.acquire() as conn:
        try:
            proof = await proofs.inclusion(conn, sealer.schema, sealer.store, record, seq)
        except proofs.TreeMismatch as exc:
            raise Problem(409, f"事件流与封存不符:{exc}") from exc
    return InclusionView(seal=seal_ref(record), seq=seq, leaf_index=seq - 1, event_hash=leaf_of(stored.data).hex(),
                         proof=proof)  # fmt: skip


BUNDLE_FILE: dict[int | str, dict[str, Any]] = {
    200: {"content": {"application/json": {}}, "description": "历史包(单个 JSON 文件,格式见 docs/audit.md)"}
}


@router.get("/exports", summary="导出可离线验证的历史包(按计划、项目或时段)",
            dependencies=[AuditReader, Conflicts, Depends(waits_for_index)],
            response_class=Response, responses=BUNDLE_FILE)  # fmt: skip
async def export_bundle(
    sealer: SealerDep,
    programme_id: Annotated[str | None, Query(pattern=TOKEN, description="计划(工程)编号")] = None,
    project_id: Annotated[str | None, Query(pattern=TOKEN, description="项目编号")] = None,
    recorded_from: Annotated[datetime | None, Query(description="记录时间起(含),须带时区")] = None,
    recorded_to: Annotated[datetime | None, Query(description="记录时间止(不含),须带时区")] = None,
) -> Response:
    record_time_range(recorded_from, recorded_to)
    if programme_id and project_id:
        raise field_error("project_id", "programme_id 与 project_id 只能给一个")
    if not (programme_id or project_id or recorded_from or recorded_to):
        raise field_error("programme_id", "须给出 programme_id、project_id 或记录时段之一")
    scope = Scope(programme_id, project_id, recorded_from, recorded_to)
    # Written to a temporary file as it is made (never whole in memory), sent from it, removed once sent.
    with tempfile.NamedTemporaryFile(prefix="tiaodu-bundle-", suffix=".json", delete=False) as out:
        path = out.name
        try:
            await export(sealer, scope, out, exported_at=sealer.clock.now())
        except BaseException as exc:
            os.unlink(path)
            if isinstance(exc, NothingSealed):
                raise Problem(409, str(exc)) from exc
            if isinstance(exc, IndexBehind):
                raise Problem(504, str(exc)) from exc
            if isinstance(exc, proofs.TreeMismatch):
                raise Problem(409, f"事件流与封存不符:{exc}") from exc
            raise
    name = programme_id or project_id or "period"
    return FileResponse(path, media_type="application/json", filename=f"tiaodu-bundle-{name}.json",
                        content_disposition_type="attachment", background=BackgroundTask(os.unlink, path))  # fmt: skip
