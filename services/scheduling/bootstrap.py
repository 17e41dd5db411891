"""scheduling's composition root: settings, clock, connections, read model, API and the daily monitoring loop."""

from __future__ import annotations

import asyncio
import logging
import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import time

from fastapi import FastAPI

from services.scheduling.api import router
from services.scheduling.handlers import ensure_default_rules
from services.scheduling.monitoring import run_monitoring
from services.scheduling.read_model import SchedulingReadModel
from shared.auth import IdentityReadModel
from shared.clock import CHINA, Clock, SystemClock, today
from shared.envelope import Actor, Role
from shared.eventstore import Context
from shared.project_directory import ProjectDirectory
from shared.runtime import CompositeReadModel, Runtime
from shared.settings import Settings
from shared.tasks import cancel_and_wait
from shared.telemetry import setup_telemetry
from shared.web import install_common

SERVICE = "scheduling"
SYSTEM = Actor(org_id="platform", role=Role.SYSTEM, user="scheduling-monitor")
log = logging.getLogger("tiaodu.scheduling")


def read_model() -> CompositeReadModel:
    return CompositeReadModel([IdentityReadModel(), ProjectDirectory(), SchedulingReadModel()])


def monitor_at() -> time:
    """When the daily monitoring runs, China time (TIAODU_MONITOR_AT, default 06:00)."""
    return time.fromisoformat(os.environ.get("TIAODU_MONITOR_AT", "06:00"))


async def daily_monitoring(runtime: Runtime, clock: Clock, at: time, poll_s: float) -> None:
    """Every replica runs this loop; the day's aggregate makes the work happen once."""
    while True:
        now = clock.now().astimezone(CHINA)
        if now.time() >= at:
            ctx = Context(actor=SYSTEM, correlation_id=f"monitoring-{today(clock)}-{uuid.uuid4().hex[:8]}")
            try:
                result = await run_monitoring(runtime, today(clock), ctx)
                if not result.already_complete:
                    log.info("monitoring %s: %s items, %s lights changed", result.day, result.items_emitted,
                             result.lights_changed)  # fmt: skip
            except Exception:
                log.exception("daily monitoring failed; retrying at the next poll")
        await asyncio.sleep(poll_s)


def create_app(
    settings: Settings,
    *,
    clock: Clock | None = None,
    schema: str | None = None,
    monitor: bool = True,
    monitor_poll_s: float = 60.0,
) -> FastAPI:
    clock = clock or SystemClock()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        setup_telemetry(SERVICE, settings)
        runtime = await Runtime.start(SERVICE, settings, read_model(), schema=schema)
        app.state.runtime = runtime
        app.state.clock = clock
        await ensure_default_rules(runtime, Context(actor=SYSTEM, correlation_id="default-rules"))
        loop = asyncio.create_task(daily_monitoring(runtime, clock, monitor_at(), monitor_poll_s)) if monitor else None
        try:
            yield
        finally:
            if loop is not None:
                await cancel_and_wait(loop, timeout=10.0)
            await runtime.stop()

    app = FastAPI(
        title="Tiaodu scheduling 调度服务",
        version="1.0.0",
        description="年度实施方案与节点、红黄绿灯预警(规则版本化)、正当理由豁免、日监测、调度会与周调度报告、项目台账。",
        lifespan=lifespan,
    )
    install_common(app)
    app.include_router(router)
    return app
