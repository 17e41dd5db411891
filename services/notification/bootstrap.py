"""notification's composition root: settings, clock, connections, read model, the routing reaction, the default
routing rules, the secret box and the live stream's watcher, and the API."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from services.notification.api import router as inbox_router
from services.notification.api_deliveries import router as deliveries_router
from services.notification.api_settings import router as settings_router
from services.notification.api_stream import router as stream_router
from services.notification.delivery_setup import DeliverySetup
from services.notification.digests import digest_timers
from services.notification.handlers_settings import ensure_default_rules
from services.notification.reactions import notifications
from services.notification.read_model import read_model
from services.notification.secret_box import SecretBox
from services.notification.stream import InboxWatch
from shared.clock import Clock
from shared.envelope import Actor, Role
from shared.eventstore import Context
from shared.rebuild_diff_api import rebuild_diff_router
from shared.runtime import Runtime
from shared.settings import Settings
from shared.telemetry import setup_telemetry
from shared.web import service_app

SERVICE = "notification"
ROUTER = Actor(org_id="platform", role=Role.SYSTEM, user="notification-rules")


def create_app(
    settings: Settings,
    *,
    clock: Clock | None = None,
    schema: str | None = None,
    react: bool = True,
    digests: bool = True,
) -> FastAPI:
    """`react=False` leaves out the routing reaction (a test that runs a second runner of it by hand);
    `digests=False` the digest timers (a test that counts every notification it causes)."""
    clock = clock or settings.clock()
    box = SecretBox.from_env(settings.environment)  # refuses to start without a key outside development

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        setup_telemetry(SERVICE, settings)
        runtime = await Runtime.start(
            SERVICE, settings, read_model(), schema=schema, reactions=[notifications()] if react else [],
            timers=digest_timers(settings) if digests else [], clock=clock,
        )  # fmt: skip
        delivery = DeliverySetup(settings, box)
        app.state.delivery = await delivery.start(runtime)
        app.state.runtime = runtime
        app.state.clock = clock
        app.state.secret_box = box
        watch = InboxWatch(runtime.pool, runtime.schema)
        app.state.inbox_watch = watch
        if settings.runs_api:
            watch.start()
        await ensure_default_rules(runtime, Context(actor=ROUTER, correlation_id="notification-rules"))
        try:
            yield
        finally:
            await watch.stop()
            await runtime.stop()
            await delivery.stop()

    return service_app(
        title="Tiaodu notification 通知服务",
        description="谁在什么时候收到什么:路由规则、收件箱(未读、已读、实时推送)、联系方式、订阅与接收偏好。",
        lifespan=lifespan,
        routers=[
            (stream_router, ""),
            (inbox_router, ""),
            (settings_router, ""),
            (deliveries_router, ""),
            (rebuild_diff_router(SERVICE, read_model), ""),
        ],
        runs_api=settings.runs_api,
    )
