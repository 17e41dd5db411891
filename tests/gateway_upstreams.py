"""Real upstream HTTP servers for the gateway's tests (uvicorn on free ports, in the test's event loop)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass

import uvicorn
from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, create_model

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
        "hop": request.headers.get("x-hop"),  # named in the client's Connection header: hop-by-hop
        "host": request.headers.get("host"),
        "forwarded_host": request.headers.get("x-forwarded-host"),
        "forwarded_proto": request.headers.get("x-forwarded-proto"),
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
