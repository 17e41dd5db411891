"""Request bodies the services refuse before parsing them (an ASGI middleware, outermost):
over the size limit -> 413; JSON nested deeper than any command needs -> 422. Both as problem+json naming `body`."""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable
from typing import Any

DEFAULT_LIMIT = 1024 * 1024  # 1 MB: a command is a few KB; uploads (attachments) get routes and limits of their own
MAX_JSON_DEPTH = 32  # the deepest command is 4 levels deep
_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"')

Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


def json_depth(body: bytes) -> int:
    """The nesting depth of a JSON text (strings skipped); cheap for the usual small, shallow bodies."""
    if body.count(b"[") + body.count(b"{") <= MAX_JSON_DEPTH:
        return 0  # cannot be deeper than that
    depth = deepest = 0
    for byte in _STRING.sub(b'""', body):
        if byte in b"[{":
            depth += 1
            deepest = max(deepest, depth)
        elif byte in b"]}":
            depth -= 1
    return deepest


class BodyLimitMiddleware:
    def __init__(self, app: ASGIApp, limit: int = DEFAULT_LIMIT) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in ("POST", "PUT", "PATCH"):
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        declared = headers.get(b"content-length", b"")
        if declared.isdigit() and int(declared) > self.limit:
            await _refuse(scope, send, 413, "请求体过大", f"超过 {self.limit} 字节")
            return
        # Read the body (it is bounded now) so that it can be checked before anything parses it.
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                await self.app(scope, _replay([message], receive), send)  # the client went away: let the app see it
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.limit:
                await _refuse(scope, send, 413, "请求体过大", f"超过 {self.limit} 字节")
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        if b"json" in headers.get(b"content-type", b"") and json_depth(body) > MAX_JSON_DEPTH:
            await _refuse(scope, send, 422, "JSON 嵌套过深", f"JSON 嵌套超过 {MAX_JSON_DEPTH} 层")
            return
        replayed = _replay([{"type": "http.request", "body": body, "more_body": False}], receive)
        await self.app(scope, replayed, send)


def _replay(messages: list[Message], then: Receive) -> Receive:
    """Hand the app what was already read, then the connection itself (a disconnect arrives when it happens)."""
    queue = list(messages)

    async def receive() -> Message:
        if queue:
            return queue.pop(0)
        return await then()

    return receive


async def _refuse(scope: Scope, send: Send, status: int, title: str, reason: str) -> None:
    body = json.dumps(
        {"type": "about:blank", "title": title, "status": status, "detail": f"body: {reason}",
         "instance": scope.get("path", ""), "errors": [{"field": "body", "reason": reason}]},
        ensure_ascii=False,
    ).encode()  # fmt: skip
    headers = [(b"content-type", b"application/problem+json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
