"""The gateway's composition root: one base URL in front of the services, with their merged OpenAPI document.

The gateway holds no state and connects to neither NATS nor PostgreSQL; its only setting is where the services
are (`TIAODU_GATEWAY_ROUTES`, comma separated base URLs).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass

import httpx
from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse, Response

from services.gateway.proxy import TITLE, Gateway
from shared.problems import Problem, problem_response

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
        timeout = httpx.Timeout(60.0, connect=5.0)
        async with httpx.AsyncClient(timeout=timeout, trust_env=False, follow_redirects=False) as client:
            gateway = Gateway(list(settings.routes), client)
            app.state.gateway = gateway
            await gateway.refresh()
            task = asyncio.create_task(gateway.refresh_forever())
            try:
                yield
            finally:
                task.cancel()
                with suppress(asyncio.CancelledError):
                    await task

    app = FastAPI(title=TITLE, lifespan=lifespan, openapi_url=None, docs_url=None, redoc_url=None)

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
    async def proxy(request: Request) -> Response:
        gateway = gateway_of(request)
        upstream = await gateway.resolve(request.method, request.url.path)
        if upstream is None:
            detail = f"没有服务提供 {request.method} {request.url.path}"
            return problem_response(Problem(404, detail), request.url.path)
        return await gateway.forward(request, upstream)

    return app
