"""The load client's lean HTTP/1.1 transport: keep-alive connections as asyncio protocols, answers parsed by
httptools (the C parser uvicorn uses).

Why: the load client shares the machine with the platform it measures. aiohttp spent ~0.25 ms of CPU per request
here, a quarter of a core at 1,000 commands/s taken from the services under test; wrk2, the usual tool for a paced
load, is written in C for the same reason. This transport does what the bench needs and nothing more: one request at
a time per connection (no pipelining), `Content-Length` bodies, JSON in and out.
"""

from __future__ import annotations

import asyncio
import collections
import json
from typing import Any, cast
from urllib.parse import urlsplit

import httptools


class ConnectionLost(Exception):
    """The connection closed or failed before its answer was complete."""


class _Connection(asyncio.Protocol):
    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.answer: asyncio.Future[tuple[int, bytes]] | None = None
        self.body: list[bytes] = []
        self.lost = False

    # asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's transports do not subclass asyncio's

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._fail(ConnectionLost(f"unparseable answer: {exc}"))

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        self._fail(ConnectionLost(f"connection lost: {exc}"))

    # httptools callbacks
    def on_body(self, body: bytes) -> None:
        self.body.append(body)

    def on_message_complete(self) -> None:
        if self.answer is not None and not self.answer.done():
            self.answer.set_result((self.parser.get_status_code(), b"".join(self.body)))

    def _fail(self, exc: Exception) -> None:
        if self.answer is not None and not self.answer.done():
            self.answer.set_exception(exc)

    async def exchange(self, request: bytes) -> tuple[int, bytes]:
        if self.lost or self.transport is None:
            raise ConnectionLost("connection closed")
        self.body = []
        self.answer = asyncio.get_running_loop().create_future()
        self.transport.write(request)
        return await self.answer


class KeepAlivePool:
    """Up to `size` keep-alive connections to one server; a request takes the idle one idle longest (opening one if
    none is idle and the pool is not full, else waiting for one) and gives it back when answered. A broken one is
    dropped; a request it was carrying fails (no retry: a command may have been applied). A request unanswered
    after `timeout` seconds fails with TimeoutError and its connection is dropped (httpx and aiohttp give up after
    30 s in the other rounds too): a server that stops answering ends a round with errors, never hangs it."""

    def __init__(self, base_url: str, size: int, headers: dict[str, str], *, timeout: float = 30.0) -> None:
        parts = urlsplit(base_url)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        self.size = size
        self.timeout = timeout
        fixed = {"Host": f"{self.host}:{self.port}", **headers}
        self.fixed = "".join(f"{name}: {value}\r\n" for name, value in fixed.items())
        # Oldest first: every connection is used in turn, so none idles into the server's keep-alive timeout.
        self.idle: collections.deque[_Connection] = collections.deque()
        self.opened = 0
        self.waiting: collections.deque[asyncio.Future[None]] = collections.deque()

    async def _acquire(self) -> _Connection:
        while not self.idle and self.opened >= self.size:
            turn = asyncio.get_running_loop().create_future()
            self.waiting.append(turn)
            await turn
        while self.idle:
            connection = self.idle.popleft()
            if not connection.lost:
                return connection
            self.opened -= 1  # closed by the server while idle
        self.opened += 1
        try:
            _, connection = await asyncio.get_running_loop().create_connection(_Connection, self.host, self.port)
        except BaseException:
            self._release(None)
            raise
        return connection

    def _release(self, connection: _Connection | None) -> None:
        if connection is None or connection.lost:
            self.opened -= 1
            if connection is not None and connection.transport is not None:
                connection.transport.close()
        else:
            self.idle.append(connection)
        while self.waiting:
            turn = self.waiting.popleft()
            if not turn.done():
                turn.set_result(None)
                break

    async def request(
        self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None
    ) -> tuple[int, bytes]:
        payload = b"" if body is None else json.dumps(body, separators=(",", ":")).encode()
        extra = "".join(f"{name}: {value}\r\n" for name, value in (headers or {}).items())
        kind = "Content-Type: application/json\r\n" if body is not None else ""
        head = f"{method} {path} HTTP/1.1\r\n{self.fixed}{extra}{kind}Content-Length: {len(payload)}\r\n\r\n"
        connection = await self._acquire()
        try:
            async with asyncio.timeout(self.timeout):
                answer = await connection.exchange(head.encode() + payload)
        except BaseException:
            connection.lost = True
            self._release(connection)
            raise
        self._release(connection)
        return answer

    async def open(self) -> None:
        """Open every connection now (a GET /healthz on each), as a steady client's are already open."""
        connections = [await self._acquire() for _ in range(self.size)]
        for connection in connections:
            await connection.exchange(f"GET /healthz HTTP/1.1\r\n{self.fixed}\r\n".encode())
            self._release(connection)

    def close(self) -> None:
        for connection in self.idle:
            if connection.transport is not None:
                connection.transport.close()
        self.idle.clear()
