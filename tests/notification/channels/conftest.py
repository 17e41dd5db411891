"""Real local peers for the channel tests: an HTTP receiver (uvicorn in the test's event loop) that records every
request and answers as the test scripts it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from shared.devstack.embedded import free_port


@dataclass(frozen=True)
class Received:
    path: str
    raw_query: str  # as sent, percent-encoding included
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes


@dataclass(frozen=True)
class Answer:
    status: int = 200
    body: bytes | str = b"ok"
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str = "text/plain"


@dataclass
class Receiver:
    """Answers the scripted answers in order, then `default`; `hold` (when set) keeps every request waiting until
    it is released, to make the client time out."""

    url: str
    received: list[Received] = field(default_factory=list)
    script: list[Answer] = field(default_factory=list)
    default: Answer = field(default_factory=Answer)
    hold: asyncio.Event | None = None
    arrived: asyncio.Condition = field(default_factory=asyncio.Condition)

    async def handle(self, request: Request) -> Response:
        body = await request.body()
        async with self.arrived:
            self.received.append(
                Received(
                    request.url.path, request.url.query, dict(request.query_params), dict(request.headers.items()), body
                )
            )
            self.arrived.notify_all()
        if self.hold is not None:
            await self.hold.wait()
        answer = self.script.pop(0) if self.script else self.default
        return Response(answer.body, answer.status, answer.headers, media_type=answer.content_type)

    async def wait_for(self, count: int, timeout: float = 10.0) -> None:
        async with self.arrived:
            await asyncio.wait_for(self.arrived.wait_for(lambda: len(self.received) >= count), timeout)


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    port = free_port()
    peer = Receiver(f"http://127.0.0.1:{port}")
    app = Starlette(routes=[Route("/{path:path}", peer.handle, methods=["POST"])])
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off"))
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
            raise AssertionError("the receiver stopped before it started")
        await asyncio.sleep(0.01)
    try:
        yield peer
    finally:
        if peer.hold is not None:
            peer.hold.set()
        server.should_exit = True
        await task
