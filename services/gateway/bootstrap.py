"""The gateway's composition root: one base URL in front of the services, with their merged OpenAPI document.

The gateway holds no state and connects to neither NATS nor PostgreSQL; its only setting is where the services
are (`TIAODU_GATEWAY_ROUTES`, comma separated base URLs; a service's replicas joined by `|`, docs/adr/0034).
HAProxy, its child process, listens on the base URL and forwards what the services declare, answering for
upstreams that failed (docs/adr/0013); this app is the control plane behind it: the routing table, the merged
document, health, and the answers for unknown paths.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass
from functools import partial

import httpx
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

from services.gateway.haproxy import HAProxy
from services.gateway.haproxy_config import render_config, server_address
from services.gateway.proxy import TITLE, Gateway, Route
from shared.docs import mount_docs
from shared.problems import Problem, problem_response
from shared.telemetry import FASTAPI_TELEMETRY

SERVICE = "gateway"


@dataclass(frozen=True)
class GatewaySettings:
    routes: tuple[str, ...]
    service_port: int = 8000
    service_host: str = "127.0.0.1"
    # HAProxy's Prometheus exporter (TIAODU_GATEWAY_METRICS_PORT, same host): off unless set; compose and Kubernetes
    # set 8405. Never the public port: what a scrape shows (backends, replicas, error rates) is for operators.
    metrics_port: int | None = None

    @classmethod
    def from_env(cls) -> GatewaySettings:
        routes = tuple(u.strip() for u in os.environ.get("TIAODU_GATEWAY_ROUTES", "").split(",") if u.strip())
        if not routes:
            raise RuntimeError("gateway: TIAODU_GATEWAY_ROUTES must list the services' base URLs, comma separated")
        for route in routes:
            for replica in route.split("|"):
                server_address(replica.strip())  # an unusable URL stops the gateway at start, naming it
        service_port = int(os.environ.get("SERVICE_PORT", "8000"))
        metrics = os.environ.get("TIAODU_GATEWAY_METRICS_PORT", "").strip()
        metrics_port = int(metrics) if metrics else None
        if metrics_port == service_port:
            raise RuntimeError(f"gateway: TIAODU_GATEWAY_METRICS_PORT {metrics_port} must differ from SERVICE_PORT")
        return cls(
            routes=routes,
            service_port=service_port,
            service_host=os.environ.get("SERVICE_HOST", "127.0.0.1"),
            metrics_port=metrics_port,
        )

    @property
    def replicas(self) -> dict[str, list[str]]:
        """Each service by its first replica's base URL (its name in the routing table) → all its replicas."""
        groups = [[u.strip().rstrip("/") for u in route.split("|") if u.strip()] for route in self.routes]
        return {group[0]: group for group in groups}

    @property
    def listen(self) -> str:
        return f"{self._host}:{self.service_port}"

    @property
    def metrics_listen(self) -> str | None:
        return None if self.metrics_port is None else f"{self._host}:{self.metrics_port}"

    @property
    def _host(self) -> str:
        return f"[{self.service_host}]" if ":" in self.service_host else self.service_host


def create_app(settings: GatewaySettings, haproxy: HAProxy | None = None) -> FastAPI:
    """The control plane; with `haproxy` every new routing table is loaded into it (without, as in the in-process
    tests of the merged document, the table is only computed)."""
    replicas = settings.replicas
    upstreams = list(replicas)
    # A service's backend lists every replica: HAProxy balances, health-checks and retries across them (0034).
    pools = {u: [server_address(r) for r in replicas[u]] for u in upstreams}

    async def load_into_haproxy(data_plane: HAProxy, routes: list[Route]) -> None:
        config = render_config(
            listen=settings.listen,
            control_socket=data_plane.control_socket,
            lua_file=data_plane.lua_file,
            routes=routes,
            pools=pools,
            metrics_listen=settings.metrics_listen,
        )
        await data_plane.load(config)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with httpx.AsyncClient(trust_env=False) as client:
            on_routes = partial(load_into_haproxy, haproxy) if haproxy is not None else None
            gateway = Gateway(upstreams, client, on_routes=on_routes, replicas=replicas)
            app.state.gateway = gateway
            await gateway.refresh()
            task = asyncio.create_task(gateway.refresh_forever())
            try:
                yield
            finally:
                task.cancel()
                with suppress(asyncio.CancelledError):
                    await task
                if haproxy is not None:  # here: uvicorn ends by re-raising SIGTERM, so __main__'s finally never runs
                    await asyncio.to_thread(haproxy.stop)

    app = FastAPI(
        title=TITLE, telemetry=FASTAPI_TELEMETRY, lifespan=lifespan, openapi_url=None, docs_url=None, redoc_url=None
    )
    mount_docs(app, openapi_url="/openapi.json", title=f"{TITLE} · 接口文档")  # before the catch-all route

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

    @app.api_route("/{path:path}", methods=["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"])
    async def no_upstream(request: Request) -> Response:
        # HAProxy forwards every path an upstream declared at the last refresh; what reaches this route had no owner.
        if await gateway_of(request).resolve(request.method, request.url.path) is not None:
            # Declared since: the refresh has loaded the route into HAProxy, so a retry reaches the upstream.
            detail = f"{request.method} {request.url.path} 的路由刚刚更新,请重试"
            return problem_response(Problem(503, detail, headers={"Retry-After": "1"}), request.url.path)
        detail = f"没有服务提供 {request.method} {request.url.path}"
        return problem_response(Problem(404, detail), request.url.path)

    return app
