"""intake's composition root: the one place where settings, connections, read model and API meet."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from services.intake.api import router
from services.intake.api_attachments import router as attachments_router
from services.intake.api_change_requests import router as change_request_router
from services.intake.api_progress import DIRECT
from services.intake.api_progress import router as progress_router
from services.intake.reactions import change_requests
from services.intake.read_models import SERVICE, read_model
from shared.clock import Clock
from shared.projection import AfterCommit
from shared.provision import verify_attachment_store
from shared.rebuild_diff_api import rebuild_diff_router
from shared.runtime import Runtime
from shared.settings import Settings
from shared.telemetry import setup_telemetry
from shared.web import service_app

__all__ = ["SERVICE", "create_app", "read_model"]


def create_app(
    settings: Settings,
    *,
    schema: str | None = None,
    after_commit: AfterCommit | None = None,
    clock: Clock | None = None,
) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        setup_telemetry(SERVICE, settings)
        runtime = await Runtime.start(
            SERVICE, settings, read_model(), schema=schema, after_commit=after_commit, reactions=[change_requests()],
            clock=clock,  # a test's clock, shared with scheduling: one clock stamps every event (ADR 0017)
        )  # fmt: skip
        app.state.runtime = runtime
        try:
            await verify_attachment_store(runtime.js)  # provisioned by the administrator, like the stream
            yield
        finally:
            await runtime.stop()

    return service_app(
        title="Tiaodu intake 项目台账服务",
        description=(
            "重点项目登记、专班、阶段与进度填报。所有写操作返回事件流序号 seq;读操作可带 min_seq 等待读模型同步。"
        ),
        lifespan=lifespan,
        # The progress report first: FastAPI matches a request against each included router's routes in turn
        # (~3 us a route, twice: to match, then to dispatch), and the weekly report is the command issued most.
        routers=[
            (progress_router, ""),
            (router, ""),
            (change_request_router, ""),
            (attachments_router, ""),
            (rebuild_diff_router(SERVICE, read_model), ""),
        ],
        runs_api=settings.runs_api,
        direct=DIRECT,
    )
