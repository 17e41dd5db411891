"""audit's composition root: settings, clock, connections, the read model (identities and the event index) and the
API. The chain verification runs in the process that serves its POST (verification.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from services.audit import verification
from services.audit.api import routers
from services.audit.reactions import REACTIONS
from services.audit.read_model import read_model
from services.audit.seal_keeper import SealKeeper
from services.audit.signing import signer_from_env
from services.audit.timers import audit_timers
from services.audit.verification import Verifications
from shared.clock import Clock
from shared.runtime import Runtime
from shared.settings import Settings
from shared.telemetry import setup_telemetry
from shared.web import service_app

SERVICE = "audit"


def create_app(settings: Settings, *, clock: Clock | None = None, schema: str | None = None) -> FastAPI:
    clock = clock or settings.clock()
    keeper = SealKeeper(signer_from_env(settings.environment))  # no key outside development: refuse to start

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        setup_telemetry(SERVICE, settings)
        runtime = await Runtime.start(
            SERVICE, settings, read_model(), schema=schema, reactions=REACTIONS, timers=audit_timers(settings, keeper),
            clock=clock,
        )  # fmt: skip
        app.state.runtime = runtime
        app.state.clock = clock
        app.state.seal_keeper = keeper
        await verification.create_tables(runtime.pool, runtime.schema)
        runs = Verifications(runtime.pool, runtime.store, runtime.schema, settings.replica_id, clock)
        app.state.verifications = runs
        try:
            yield
        finally:
            await runs.stop()
            await runtime.stop()

    return service_app(
        title="Tiaodu audit 审计服务",
        description="审计与考评无需信任运维即可回答:某一时刻平台知道什么,谁因何改了什么,是否有篡改或遗漏。"
        "全部事件的索引(按编号、聚合、关联编号、类型、记录时间查询)、聚合历史与字段级差异、逐条哈希链校验、审计访问记录。",
        lifespan=lifespan,
        routers=[(router, "") for router in routers()],
        runs_api=settings.runs_api,
    )
