"""scheduling's composition root: settings, clock, connections, read model, reactions, timers and the API."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from services.scheduling import handlers_year_end
from services.scheduling.api import router
from services.scheduling.api_clock import router as clock_router
from services.scheduling.handlers import ensure_default_rules
from services.scheduling.reaction_milestones import milestone_completion
from services.scheduling.reactions import change_requests, light_reevaluation
from services.scheduling.read_models import SERVICE, read_model
from services.scheduling.timers import scheduling_timers
from shared.clock import Clock
from shared.envelope import Actor, Role
from shared.eventstore import Context
from shared.rebuild_diff_api import rebuild_diff_router
from shared.runtime import Runtime
from shared.settings import Settings
from shared.telemetry import setup_telemetry
from shared.web import service_app

SYSTEM = Actor(org_id="platform", role=Role.SYSTEM, user="scheduling-monitor")
log = logging.getLogger("tiaodu.scheduling")
__all__ = ["SERVICE", "SYSTEM", "create_app", "read_model"]


def create_app(
    settings: Settings,
    *,
    clock: Clock | None = None,
    schema: str | None = None,
    monitor: bool = True,
    react: bool = True,
) -> FastAPI:
    """`monitor=False` leaves out the daily monitoring timer, `react=False` the light re-evaluation reaction (tests
    that move lights only through monitoring runs of their own); milestones reported done are always completed and
    approved change requests always applied: they are the workflow, not a convenience a test may leave out."""
    clock = clock or settings.clock()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        setup_telemetry(SERVICE, settings)
        runtime = await Runtime.start(
            SERVICE,
            settings,
            read_model(),
            schema=schema,
            reactions=[*([light_reevaluation()] if react else []), milestone_completion(), change_requests()],
            timers=scheduling_timers(settings) if monitor else [],
            clock=clock,
        )
        app.state.runtime = runtime
        app.state.clock = clock
        await ensure_default_rules(runtime, Context(actor=SYSTEM, correlation_id="default-rules"))
        await handlers_year_end.ensure_default_rules(
            runtime, Context(actor=SYSTEM, correlation_id="default-evaluation-rules")
        )
        try:
            yield
        finally:
            await runtime.stop()

    return service_app(
        title="Tiaodu scheduling 调度服务",
        description="年度实施方案与节点、红黄绿灯预警(规则版本化)、正当理由豁免、日监测、调度会与周调度报告、项目台账、"
        "年度综合成效考评(考评规则版本化、各项可追溯至事件、测算)。",
        lifespan=lifespan,
        routers=[(router, ""), (clock_router, "/v1"), (rebuild_diff_router(SERVICE, read_model), "")],
        runs_api=settings.runs_api,
    )
