"""Real local peers for the channel tests: an HTTP receiver (uvicorn in the test's event loop) that records every
request and answers as the test scripts it, and an SMTP server (aiosmtpd's Controller, a thread of this process)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

import pytest
import uvicorn
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
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


PASSWORD = "p@ss:word/秘密"  # the SMTP login the servers with authentication accept


@dataclass
class Mailbox:
    """Accepts mail, or answers a scripted reply at RCPT or DATA; records what arrived and who logged in."""

    rcpt_reply: str | None = None
    data_reply: str | None = None
    messages: list[EmailMessage] = field(default_factory=list)
    logins: list[tuple[str, str]] = field(default_factory=list)
    encrypted: list[bool] = field(default_factory=list)  # per message: did it arrive over TLS

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, options: list[str]) -> str:
        if self.rcpt_reply:
            return self.rcpt_reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.data_reply:
            return self.data_reply
        parsed = message_from_bytes(envelope.original_content, policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        self.messages.append(parsed)
        self.encrypted.append(server.transport.get_extra_info("ssl_object") is not None)
        return "250 Message accepted for delivery"

    def authenticate(self, server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
        assert isinstance(data, LoginPassword)
        self.logins.append((data.login.decode(), data.password.decode()))
        return AuthResult(success=data.password.decode() == PASSWORD, handled=False)


@dataclass
class SmtpServer:
    mailbox: Mailbox
    url: str


def serve(mailbox: Mailbox, **options: Any) -> Iterator[SmtpServer]:
    port = free_port()
    controller = Controller(mailbox, hostname="127.0.0.1", port=port, **options)
    controller.start()
    try:
        yield SmtpServer(mailbox, f"smtp://127.0.0.1:{port}")
    finally:
        controller.stop()


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    yield from serve(Mailbox())
