"""notification's composition root: settings, clock, connections, read model, reactions and the API."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from services.notification.api import router as inbox_router
from services.notification.read_model import read_model
from shared.clock import Clock
from shared.runtime import Runtime
from shared.settings import Settings
from shared.telemetry import setup_telemetry
from shared.web import service_app

SERVICE = "notification"


def create_app(settings: Settings, *, clock: Clock | None = None, schema: str | None = None) -> FastAPI:
    clock = clock or settings.clock()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        setup_telemetry(SERVICE, settings)
        runtime = await Runtime.start(SERVICE, settings, read_model(), schema=schema, clock=clock)
        app.state.runtime = runtime
        app.state.clock = clock
        try:
            yield
        finally:
            await runtime.stop()

    return service_app(
        title="Tiaodu notification 通知服务",
        description="谁在什么时候收到什么:路由规则、收件箱(未读、已读、实时推送)、联系方式、订阅与接收偏好。",
        lifespan=lifespan,
        routers=[(inbox_router, "")],
        runs_api=settings.runs_api,
    )
