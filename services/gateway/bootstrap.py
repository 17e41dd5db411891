"""The gateway's composition root: one base URL in front of the services, with their merged OpenAPI document.

The gateway holds no state and connects to neither NATS nor PostgreSQL; its only setting is where the services
are (`TIAODU_GATEWAY_ROUTES`, comma separated base URLs).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager, suppress
from dataclasses import dataclass

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from services.gateway.forwarding import UpstreamClients, forward
from services.gateway.proxy import TITLE, Gateway
from shared.problems import Problem, problem_response
from shared.telemetry import FASTAPI_TELEMETRY

SERVICE = "gateway"


@dataclass(frozen=True)
class GatewaySettings:
    routes: tuple[str, ...]
    service_port: int = 8000

    @classmethod
    def from_env(cls) -> GatewaySettings:
        routes = tuple(u.strip() for u in os.environ.get("TIAODU_GATEWAY_ROUTES", "").split(",") if u.strip())
        if not routes:
            raise RuntimeError("gateway: TIAODU_GATEWAY_ROUTES must list the services' base URLs, comma separated")
        return cls(routes=routes, service_port=int(os.environ.get("SERVICE_PORT", "8000")))


def create_app(settings: GatewaySettings) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with AsyncExitStack() as closing:
            upstreams = {u.rstrip("/"): UpstreamClients(u.rstrip("/")) for u in settings.routes}
            for pools in upstreams.values():
                closing.push_async_callback(pools.aclose)
            gateway = Gateway(upstreams)
            app.state.gateway = gateway
            await gateway.refresh()
            task = asyncio.create_task(gateway.refresh_forever())
            try:
                yield
            finally:
                task.cancel()
                with suppress(asyncio.CancelledError):
                    await task

    app = FastAPI(
        title=TITLE, telemetry=FASTAPI_TELEMETRY, lifespan=lifespan, openapi_url=None, docs_url=None, redoc_url=None
    )
    app.add_middleware(ProxyRoutedPaths)

    def gateway_of(request: Request) -> Gateway:
        return request.app.state.gateway  # type: ignore[no-any-return]

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz")
    async def readyz(request: Request) -> Response:
        not_ready = await gateway_of(request).not_ready()
        if not_ready:
            detail = "以下上游服务尚未就绪: " + ", ".join(not_ready)
            return problem_response(Problem(503, detail, not_ready=not_ready), request.url.path)
        return JSONResponse({"status": "ready"})

    @app.get("/openapi.json")
    async def openapi(request: Request) -> JSONResponse:
        return JSONResponse(gateway_of(request).merged)

    @app.get("/docs")
    async def docs() -> HTMLResponse:
        return get_swagger_ui_html(openapi_url="/openapi.json", title=f"{TITLE} · 接口文档")

    @app.api_route("/{path:path}", methods=["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"])
    async def no_upstream(request: Request) -> Response:
        # ProxyRoutedPaths forwards every path an upstream declares; what reaches this route has no owner.
        detail = f"没有服务提供 {request.method} {request.url.path}"
        return problem_response(Problem(404, detail), request.url.path)

    return app


GATEWAY_OWN_PATHS = frozenset({"/healthz", "/readyz", "/openapi.json", "/docs"})


class ProxyRoutedPaths:
    """Forwards a request an upstream declares before FastAPI routes it; the gateway's own paths go to FastAPI."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] not in GATEWAY_OWN_PATHS:
            gateway: Gateway = scope["app"].state.gateway
            upstream = await gateway.resolve(scope["method"], scope["path"])
            if upstream is not None:
                await forward(gateway.clients[upstream], scope, receive, send)
                return
        await self.app(scope, receive, send)
