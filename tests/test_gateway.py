"""The gateway in front of real upstream HTTP servers (uvicorn on free ports); the gateway itself via ASGI."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import httpx
import pytest
import uvicorn
from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, create_model

from services.gateway import proxy as gateway_module
from services.gateway.bootstrap import GatewaySettings, create_app
from services.gateway.proxy import compile_template
from shared.devstack.embedded import free_port


class ProjectIn(BaseModel):
    name: str
    budget: int


class Shared(BaseModel):  # same schema name in both upstreams, different content
    a_only: str


SharedB = create_model("Shared", b_only=(int, ...))


def echo(service: str, request: Request, **extra: object) -> dict[str, object]:
    return {
        "service": service,
        "path": request.url.path,
        "query": request.url.query,
        "forwarded_for": request.headers.get("x-forwarded-for"),
        "te": request.headers.get("te"),
        "custom": request.headers.get("x-custom"),
        **extra,
    }


def projects_app() -> FastAPI:
    app = FastAPI()

    @app.get("/readyz")
    async def readyz() -> dict[str, str]:
        return {"status": "ready"}

    @app.get("/v1/projects/search")
    async def search(request: Request) -> dict[str, object]:
        return echo("projects", request, route="search")

    @app.get("/v1/projects/{project_id}")
    async def get_project(project_id: str, request: Request) -> dict[str, object]:
        return echo("projects", request, project_id=project_id)

    @app.post("/v1/projects", status_code=201)
    async def register(body: ProjectIn, request: Request, response: Response) -> dict[str, object]:
        response.headers["Location"] = "/v1/projects/p-1"
        response.set_cookie("a", "1")
        response.set_cookie("b", "2")
        return echo("projects", request, body=body.model_dump())

    @app.get("/v1/shared")
    async def shared() -> Shared:
        return Shared(a_only="x")

    return app


def issues_app() -> FastAPI:
    app = FastAPI()

    @app.get("/readyz")
    async def readyz() -> dict[str, str]:
        return {"status": "ready"}

    @app.get("/v1/projects/{project_id}/issues/{issue_id}")
    async def get_issue(project_id: str, issue_id: str, request: Request) -> dict[str, object]:
        return echo("issues", request, project_id=project_id, issue_id=issue_id)

    @app.get("/v1/projects/open-issues")  # collides with the other upstream's /v1/projects/{project_id}
    async def open_issues(request: Request) -> dict[str, object]:
        return echo("issues", request, route="open-issues")

    @app.post("/v1/issues/{issue_id}/escalations")
    async def escalate(issue_id: str) -> JSONResponse:
        body = {"type": "about:blank", "title": "版本冲突", "status": 409, "detail": issue_id}
        return JSONResponse(body, status_code=409, media_type="application/problem+json")

    @app.get("/v1/other-shared")
    async def other_shared() -> SharedB:  # type: ignore[valid-type]
        return SharedB(b_only=1)

    return app


@dataclass
class Upstream:
    app: FastAPI
    server: uvicorn.Server
    task: asyncio.Task[None]
    url: str

    async def stop(self) -> None:
        self.server.should_exit = True
        await self.task


async def start_upstream(app: FastAPI, *, proxy_headers: bool = True) -> Upstream:
    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", proxy_headers=proxy_headers)
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        assert not task.done(), "upstream failed to start"
        await asyncio.sleep(0.01)
    return Upstream(app, server, task, f"http://127.0.0.1:{port}")


@asynccontextmanager
async def gateway_client(upstreams: list[str]) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(GatewaySettings(routes=tuple(upstreams)))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as client:
            yield client


@pytest.fixture(scope="module")
async def upstreams() -> AsyncIterator[tuple[Upstream, Upstream]]:
    projects, issues = await start_upstream(projects_app()), await start_upstream(issues_app())
    yield projects, issues
    await projects.stop()
    await issues.stop()


@pytest.fixture
async def client(upstreams: tuple[Upstream, Upstream]) -> AsyncIterator[httpx.AsyncClient]:
    async with gateway_client([u.url for u in upstreams]) as c:
        yield c


def test_compile_template() -> None:
    pattern = compile_template("/v1/projects/{project_id}/progress-reports")
    assert pattern.match("/v1/projects/p-1/progress-reports")
    assert not pattern.match("/v1/projects/p-1/x/progress-reports")
    assert not pattern.match("/v1/projects//progress-reports")
    assert not pattern.match("/v1/projects/p-1/progress-reports/extra")


async def test_routes_to_the_declaring_upstream_with_path_params_and_query(client: httpx.AsyncClient) -> None:
    r = await client.get("/v1/projects/p-42", params=[("status", "red"), ("status", "amber"), ("q", "中")])
    assert r.status_code == 200
    assert r.json()["service"] == "projects"
    assert r.json()["project_id"] == "p-42"
    assert r.json()["query"] == "status=red&status=amber&q=%E4%B8%AD"
    assert r.json()["forwarded_for"] == "127.0.0.1"

    r = await client.get("/v1/projects/p-42/issues/i-7")
    assert r.status_code == 200
    assert r.json() == r.json() | {"service": "issues", "project_id": "p-42", "issue_id": "i-7"}

    r = await client.get("/v1/projects/search")
    assert r.json()["route"] == "search"

    r = await client.get("/v1/projects/open-issues")  # a literal segment wins over {project_id}
    assert r.json()["service"] == "issues"


async def test_body_status_and_headers_pass_through(client: httpx.AsyncClient) -> None:
    r = await client.post(
        "/v1/projects",
        json={"name": "引江济淮", "budget": 7},
        headers={"X-Forwarded-For": "10.0.0.9", "TE": "trailers", "X-Custom": "kept"},
    )
    assert r.status_code == 201
    assert r.json()["body"] == {"name": "引江济淮", "budget": 7}
    assert r.json()["forwarded_for"] == "10.0.0.9, 127.0.0.1"
    assert r.json()["te"] is None  # hop-by-hop, dropped
    assert r.json()["custom"] == "kept"
    assert r.headers["location"] == "/v1/projects/p-1"
    assert len(r.headers.get_list("set-cookie")) == 2

    r = await client.post("/v1/issues/i-9/escalations")
    assert r.status_code == 409
    assert r.headers["content-type"] == "application/problem+json"
    assert r.json()["detail"] == "i-9"

    r = await client.post("/v1/projects", json={"name": 1})
    assert r.status_code == 422  # the upstream's own validation answer

    r = await client.delete("/v1/projects/p-1")
    assert r.status_code == 405  # path known, method not: the owner answers


async def test_merged_openapi(upstreams: tuple[Upstream, Upstream], caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="tiaodu.gateway"):
        async with gateway_client([u.url for u in upstreams]) as client:
            r = await client.get("/openapi.json")
            docs = await client.get("/docs")
    assert "schemas/Shared" in caplog.text  # the conflict is reported
    assert r.status_code == 200
    spec = r.json()
    assert spec["info"]["title"] == "Tiaodu 调度 API"
    assert {"/v1/projects/{project_id}", "/v1/projects"} <= spec["paths"].keys()
    assert "/v1/projects/{project_id}/issues/{issue_id}" in spec["paths"]
    assert "/v1/issues/{issue_id}/escalations" in spec["paths"]
    schemas = spec["components"]["schemas"]
    assert "ProjectIn" in schemas
    assert "a_only" in schemas["Shared"]["properties"]  # the first upstream's definition is kept
    assert docs.status_code == 200 and "swagger" in docs.text.lower()


async def test_unknown_path_is_problem_404(client: httpx.AsyncClient) -> None:
    r = await client.get("/v1/nothing-here")
    assert r.status_code == 404
    assert r.headers["content-type"] == "application/problem+json"
    assert r.json() == r.json() | {"type": "about:blank", "title": "未找到", "status": 404}
    assert "/v1/nothing-here" in r.json()["detail"]


async def test_health_and_readiness(client: httpx.AsyncClient) -> None:
    assert (await client.get("/healthz")).json() == {"status": "ok"}
    assert (await client.get("/readyz")).status_code == 200


async def test_readyz_503_when_an_upstream_is_down(upstreams: tuple[Upstream, Upstream]) -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    async with gateway_client([upstreams[0].url, dead]) as client:
        r = await client.get("/readyz")
        assert r.status_code == 503
        assert r.headers["content-type"] == "application/problem+json"
        assert r.json()["not_ready"] == [dead]
        assert (await client.get("/v1/projects/p-1")).status_code == 200


async def test_new_routes_are_found_lazily_and_a_stopped_upstream_is_503_with_retry_after(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    upstream = await start_upstream(projects_app())
    async with gateway_client([upstream.url]) as client:
        assert (await client.get("/v1/projects/p-1")).status_code == 200

        monkeypatch.setattr(gateway_module, "LAZY_REFRESH_MIN_S", 0.0)

        @upstream.app.get("/v1/late/{x}")
        async def late(x: str) -> dict[str, str]:
            return {"x": x}

        upstream.app.openapi_schema = None
        assert (await client.get("/v1/late/7")).json() == {"x": "7"}

        await upstream.stop()
        for ask in (client.get("/v1/projects/p-1"), client.post("/v1/projects", json={"name": "x", "budget": 1})):
            r = await ask  # route still known, upstream gone
            assert r.status_code == 503
            assert r.headers["content-type"] == "application/problem+json"
            assert int(r.headers["retry-after"]) > 0
            assert r.json() == r.json() | {"status": 503, "title": "服务暂不可用", "instance": r.url.path}
            port = upstream.url.rsplit(":", 1)[1]
            assert "127.0.0.1" not in r.text and port not in r.text and "http" not in r.text


def test_gateway_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TIAODU_GATEWAY_ROUTES", " http://a:8000 ,http://b:8000,")
    monkeypatch.setenv("SERVICE_PORT", "8080")
    assert GatewaySettings.from_env() == GatewaySettings(routes=("http://a:8000", "http://b:8000"), service_port=8080)
    monkeypatch.setenv("TIAODU_GATEWAY_ROUTES", " , ")
    with pytest.raises(RuntimeError, match="TIAODU_GATEWAY_ROUTES"):
        GatewaySettings.from_env()


def streaming_app(first_chunk_seen: asyncio.Event, release: asyncio.Event) -> FastAPI:
    """An upstream that proves bodies stream: it answers part of its reply before the rest exists, and reports
    when the first part of a request body arrives while the client still holds the rest back."""
    app = FastAPI()

    @app.get("/v1/stream")
    async def stream() -> StreamingResponse:
        async def parts() -> AsyncIterator[bytes]:
            yield b"first;"
            await release.wait()  # set by the test only after "first;" reached it through the gateway
            yield b"second"

        return StreamingResponse(parts(), media_type="text/plain")

    @app.post("/v1/upload")
    async def upload(request: Request) -> dict[str, int]:
        size = 0
        async for chunk in request.stream():
            size += len(chunk)
            first_chunk_seen.set()
        return {"size": size}

    return app


@asynccontextmanager
async def gateway_server(upstreams: list[str]) -> AsyncIterator[str]:
    """The gateway under a real uvicorn: httpx's ASGITransport would buffer whole bodies and hide streaming."""
    served = await start_upstream(create_app(GatewaySettings(routes=tuple(upstreams))))
    try:
        yield served.url
    finally:
        await served.stop()


async def test_bodies_stream_through_in_both_directions() -> None:
    first_chunk_seen, release = asyncio.Event(), asyncio.Event()
    upstream = await start_upstream(streaming_app(first_chunk_seen, release))
    try:
        async with gateway_server([upstream.url]) as base, httpx.AsyncClient(base_url=base, timeout=10) as client:
            async with client.stream("GET", "/v1/stream") as r:
                parts = r.aiter_raw()
                assert await asyncio.wait_for(anext(parts), 5) == b"first;"  # upstream still holds "second"
                release.set()
                assert b"".join([chunk async for chunk in parts]) == b"second"

            async def body() -> AsyncIterator[bytes]:
                yield b"x" * 1000
                await asyncio.wait_for(first_chunk_seen.wait(), 5)  # a buffering proxy would never get here
                yield b"y" * 500

            r = await client.post("/v1/upload", content=body())
            assert r.status_code == 200
            assert r.json() == {"size": 1500}
    finally:
        await upstream.stop()


def pooled_app(arrived: list[int], wave_size: int, go: asyncio.Event) -> FastAPI:
    app = FastAPI()

    @app.get("/v1/hold")
    async def hold(request: Request) -> dict[str, int]:
        assert request.client is not None
        arrived.append(request.client.port)  # one port per TCP connection the gateway opened
        if len(arrived) % wave_size == 0:
            go.set()
        await go.wait()
        return {"port": request.client.port}

    return app


async def test_concurrent_requests_reuse_pooled_upstream_connections() -> None:
    wave = 32  # the concurrency of the platform's benchmark, above httpx's default of 20 kept-alive connections
    arrived: list[int] = []
    # Without proxy headers the upstream sees the gateway's own socket address, not X-Forwarded-For.
    upstream = await start_upstream(pooled_app(arrived, wave, go := asyncio.Event()), proxy_headers=False)
    limits = httpx.Limits(max_connections=wave, max_keepalive_connections=wave)
    try:
        async with (
            gateway_server([upstream.url]) as base,
            httpx.AsyncClient(base_url=base, limits=limits, timeout=10) as client,
        ):
            for _ in range(3):
                go.clear()  # every request of a wave is held until all of them are in flight together
                answers = await asyncio.gather(*(client.get("/v1/hold") for _ in range(wave)))
                assert [a.status_code for a in answers] == [200] * wave
        assert len(arrived) == 3 * wave
        assert len(set(arrived)) == wave  # later waves ran on the first wave's connections
    finally:
        await upstream.stop()
