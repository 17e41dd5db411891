"""`/v1/audit/rebuild-diffs/<service>`: does this service's read model follow from the log? (docs/adr/0033)

Services never import each other, so each serves its own path (the gateway routes the literal path to it, before
any `/v1/audit/...` template of the audit service). POST (hq) starts a run in the background: the read model
rebuilt from sequence 1 into a scratch schema, compared with the live one row by row (shared.rebuild_diff), the
result kept in the service's own database; GET (hq, the auditor) answers the last run. One run at a time across
replicas: a run holds a PostgreSQL advisory lock on a connection of its own, so a replica that dies lets go of it.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any

import asyncpg
from fastapi import APIRouter, Depends, Request, Response
from pydantic import BaseModel, BeforeValidator, Field

from shared.auth import Principal
from shared.contract import may_answer
from shared.db import ident
from shared.envelope import Role
from shared.problems import Problem
from shared.projection import ReadModel
from shared.rebuild import rebuild
from shared.rebuild_diff import diff_rows
from shared.runtime import Runtime
from shared.web import require_roles

log = logging.getLogger("tiaodu.rebuild_diff")

RUNS_TABLE = "_rebuild_diff_run"
LIVE_WAIT_S = 60.0  # the live projection reaching the rebuild's last sequence before the comparison


def _cell(value: Any) -> Any:
    """A column's value as the answer types it: a scalar as it is, a json/jsonb or array column as its JSON text."""
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return value


# One column's value: scalars as they are; json, jsonb and array columns as their JSON text (typed for clients).
Cell = Annotated[str | int | float | bool | None, BeforeValidator(_cell)]


class ColumnDifferenceAnswer(BaseModel):
    column: str = Field(description="列名")
    live: Cell = Field(description="现用读模型中的值(json、数组列为其 JSON 文本)")
    rebuilt: Cell = Field(description="由事件日志重建所得的值(json、数组列为其 JSON 文本)")


class RowDifferenceAnswer(BaseModel):
    key: dict[str, Cell] = Field(description="主键列及其值")
    kind: str = Field(description="changed 两侧都有而列值不同;live_only 仅现用读模型有;rebuilt_only 仅重建结果有")
    columns: list[ColumnDifferenceAnswer] = Field(description="不同的列(kind 为 changed 时)")
    row: dict[str, Cell] | None = Field(description="仅一侧存在时该行的全部列")


class TableDifferenceAnswer(BaseModel):
    table: str = Field(description="读模型中的表名")
    key_columns: list[str] = Field(description="主键列")
    changed: int = Field(description="列值不同的行数")
    live_only: int = Field(description="仅现用读模型有的行数")
    rebuilt_only: int = Field(description="仅重建结果有的行数")
    total: int = Field(description="存在差异的行数合计")
    rows_named: int = Field(description="下面列出的行数(每表至多 100 行,按主键排序)")
    rows: list[RowDifferenceAnswer] = Field(description="存在差异的行(按主键排序,至多 100 行)")


class RebuildDiffRun(BaseModel):
    id: int = Field(description="比对运行编号")
    service: str = Field(description="读模型所属的服务")
    state: str = Field(description="running 运行中;done 完成;failed 失败(见 error);abandoned 运行它的进程已退出")
    requested_by: str = Field(description="发起的机构")
    started_at: datetime = Field(description="平台时钟上的开始时刻")
    finished_at: datetime | None = Field(default=None, description="平台时钟上的结束时刻;运行中为 null")
    until_seq: int | None = Field(default=None, description="重建所用事件日志的最后序号")
    applied: int | None = Field(default=None, description="重建应用的事件数")
    dead_lettered: int | None = Field(default=None, description="重建中被搁置的事件数")
    log_moved_on: int | None = Field(
        default=None, description="比对时事件日志已越过 until_seq 到达的序号(其后的事件可能造成差异);null 表示未移动"
    )
    identical: bool | None = Field(default=None, description="现用读模型与重建结果逐行一致")
    tables: list[TableDifferenceAnswer] = Field(default_factory=list, description="存在差异的表")
    error: str | None = Field(default=None, description="失败原因(state 为 failed 时)")


async def ensure_runs_table(conn: asyncpg.Connection, schema: str) -> None:
    await conn.execute(
        f"""CREATE TABLE IF NOT EXISTS {schema}.{RUNS_TABLE} (
            id bigserial PRIMARY KEY, state text NOT NULL, requested_by text NOT NULL,
            started_at timestamptz NOT NULL, finished_at timestamptz, until_seq bigint, applied bigint,
            dead_lettered bigint, log_moved_on bigint, tables jsonb, error text)"""
    )


def _run_of(service: str, row: asyncpg.Record) -> RebuildDiffRun:
    tables = json.loads(row["tables"]) if row["tables"] is not None else []
    identical = None if row["state"] != "done" else not tables
    return RebuildDiffRun(service=service, identical=identical, **{**dict(row), "tables": tables})


class RebuildDiffs:
    """The runs of one service: started here, carried out by one background worker of this process."""

    def __init__(self, runtime: Runtime, read_model: Callable[[], ReadModel]) -> None:
        self.runtime = runtime
        self.read_model = read_model
        self.queue: asyncio.Queue[tuple[int, asyncpg.Connection]] = asyncio.Queue()
        self.scratch = ident(f"{runtime.schema}_rdiff")
        runtime.run_in_background(self._serve(), "rebuild-diff")

    @property
    def lock_key(self) -> str:
        return f"tiaodu-rebuild-diff:{self.runtime.schema}"

    async def last(self) -> RebuildDiffRun | None:
        async with self.runtime.pool.acquire() as conn:
            await ensure_runs_table(conn, self.runtime.schema)
            row = await conn.fetchrow(f"SELECT * FROM {self.runtime.schema}.{RUNS_TABLE} ORDER BY id DESC LIMIT 1")
        return None if row is None else _run_of(self.runtime.service, row)

    async def start(self, principal: Principal) -> RebuildDiffRun:
        """A new run; 409 if one is running (here or on another replica)."""
        rt, s = self.runtime, self.runtime.schema
        lock = await asyncpg.connect(rt.settings.database_url)
        try:
            if not await lock.fetchval("SELECT pg_try_advisory_lock(hashtext($1))", self.lock_key):
                raise Problem(409, "已有一次重建比对正在运行,请待其完成后再发起")
            await ensure_runs_table(lock, s)
            # Nobody holds the lock: a run still marked running belonged to a process that is gone.
            await lock.execute(f"UPDATE {s}.{RUNS_TABLE} SET state = 'abandoned' WHERE state = 'running'")
            row = await lock.fetchrow(
                f"INSERT INTO {s}.{RUNS_TABLE} (state, requested_by, started_at) VALUES ('running', $1, $2)"
                " RETURNING *",
                principal.org_id,
                rt.clock.now(),
            )
        except BaseException:
            await lock.close()
            raise
        assert row is not None
        self.queue.put_nowait((row["id"], lock))  # the worker closes the lock's connection when the run ends
        return _run_of(rt.service, row)

    async def _serve(self) -> None:
        while True:
            run_id, lock = await self.queue.get()
            try:
                await self._run(run_id, lock)
            except Exception as exc:
                log.exception("rebuild diff %s of %s failed", run_id, self.runtime.schema)
                try:
                    await self._finish(lock, run_id, state="failed", error=f"{type(exc).__name__}: {exc}")
                except Exception:  # the database away: the run shows as abandoned once the next one starts
                    log.exception("rebuild diff %s: its failure could not be recorded", run_id)
            finally:
                await lock.close()

    async def _run(self, run_id: int, lock: asyncpg.Connection) -> None:
        rt = self.runtime
        model = self.read_model()
        try:
            result = await rebuild(rt.pool, rt.store, model, self.scratch, service=rt.service)
            # Compare like with like: the live projection at least as far as the rebuild went.
            if not await rt.runner.wait_for(result.until_seq, LIVE_WAIT_S):
                raise RuntimeError(f"the live projection did not reach sequence {result.until_seq}")
            tables = await diff_rows(rt.pool, model, rt.schema, self.scratch)
            last = await rt.store.last_seq()
        finally:
            async with rt.pool.acquire() as conn:
                await conn.execute(f"DROP SCHEMA IF EXISTS {self.scratch} CASCADE")
        await self._finish(
            lock, run_id, state="done", until_seq=result.until_seq, applied=result.applied,
            dead_lettered=result.dead_lettered, log_moved_on=last if last > result.until_seq else None,
            tables=json.dumps([t.as_dict() for t in tables], ensure_ascii=False, default=str),
        )  # fmt: skip

    async def _finish(self, lock: asyncpg.Connection, run_id: int, **columns: Any) -> None:
        names = list(columns)
        assignments = ", ".join(f"{name} = ${i}" for i, name in enumerate(names, start=2))
        table = f"{self.runtime.schema}.{RUNS_TABLE}"
        await lock.execute(
            f"UPDATE {table} SET finished_at = $1, {assignments} WHERE id = ${len(names) + 2}",
            self.runtime.clock.now(),
            *columns.values(),
            run_id,
        )


def rebuild_diffs_of(request: Request, read_model: Callable[[], ReadModel]) -> RebuildDiffs:
    state = request.app.state
    diffs: RebuildDiffs | None = getattr(state, "rebuild_diffs", None)
    if diffs is None:
        diffs = state.rebuild_diffs = RebuildDiffs(state.runtime, read_model)
    return diffs


@may_answer(404)
async def _may_have_none() -> None:
    """The GET answers 404 before a first run."""


@may_answer(409)
async def _may_be_running() -> None:
    """The POST answers 409 while a run is under way."""


def rebuild_diff_router(service: str, read_model: Callable[[], ReadModel]) -> APIRouter:
    """The service's `/v1/audit/rebuild-diffs/<service>` (one line in its bootstrap's routers)."""
    router = APIRouter(prefix="/v1/audit/rebuild-diffs", tags=["audit"])
    # Defaults, not Annotated: the annotations are strings (PEP 563) resolved in this module, where these are not.
    readers = require_roles(Role.HQ, Role.AUDITOR)
    starters = require_roles(Role.HQ)

    @router.get(
        f"/{service}",
        summary=f"读模型重建比对结果({service})",
        description="最近一次重建比对:由事件日志从第 1 条重建读模型到临时 schema,与现用读模型逐行比较,"
        "列出不同的行(主键与列值)。指挥部办公室与审计可读。",
        dependencies=[Depends(_may_have_none)],
    )
    async def last_rebuild_diff(request: Request, principal: Principal = readers) -> RebuildDiffRun:
        run = await rebuild_diffs_of(request, read_model).last()
        if run is None:
            raise Problem(404, "尚无重建比对结果:指挥部办公室可 POST 同一路径发起")
        return run

    @router.post(
        f"/{service}",
        status_code=202,
        summary=f"发起读模型重建比对({service},指挥部办公室)",
        description="在后台重建并比对;同一时间只运行一次(409)。以 GET 同一路径查看进度与结果。",
        dependencies=[Depends(_may_be_running)],
    )
    async def start_rebuild_diff(
        request: Request, response: Response, principal: Principal = starters
    ) -> RebuildDiffRun:
        run = await rebuild_diffs_of(request, read_model).start(principal)
        response.headers["Location"] = f"/v1/audit/rebuild-diffs/{service}"
        return run

    return router
