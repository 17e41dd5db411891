"""Requests the services refuse before parsing them (an ASGI middleware, outermost): a body over the size limit ->
413; JSON nested deeper than any command needs -> 422; a NUL character in a query value or in a JSON body -> 422
(PostgreSQL's text cannot hold one: a query would fail with 500, an event carrying one would be parked by every
projection). As problem+json naming the field."""

from __future__ import annotations

import json
import re
from urllib.parse import parse_qsl

from starlette.types import ASGIApp, Message, Receive, Scope, Send

DEFAULT_LIMIT = 1024 * 1024  # 1 MB: a command is a few KB; uploads (attachments) get routes and limits of their own
# Uploads the route itself reads as a stream, under a limit of its own (only the declared length is checked here): the
# attachments (services/intake/api_attachments.py counts the bytes as they come and answers 413 past the limit).
STREAMED_UPLOADS: dict[tuple[str, str], int] = {("POST", "/v1/attachments"): 20 * 1024 * 1024}
MAX_JSON_DEPTH = 32  # the deepest command is 4 levels deep
_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"')
_JSON_NUL = re.compile(rb"(?<!\\)(?:\\\\)*\\u0000")  # an escape \u0000 (not the text "\\u0000")


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
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if (field := _field_with_nul(scope)) is not None:
            await _refuse(scope, send, 422, "含 NUL 字符", "不能含 NUL 字符", field=field)
            return
        if scope["method"] not in ("POST", "PUT", "PATCH"):
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        declared = headers.get(b"content-length", b"")
        upload_limit = STREAMED_UPLOADS.get((scope["method"], scope.get("path", "")))
        limit = upload_limit or self.limit
        if declared.isdigit() and int(declared) > limit:
            await _refuse(scope, send, 413, "请求体过大", f"超过 {limit} 字节")
            return
        if upload_limit is not None:
            await self.app(scope, receive, send)  # not JSON: the route streams and counts it
            return
        # Read the body (it is bounded now) so that it can be checked before anything parses it.
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                await self.app(scope, replay([message], receive), send)  # the client went away: let the app see it
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
        if b"json" in headers.get(b"content-type", b""):
            if json_depth(body) > MAX_JSON_DEPTH:
                await _refuse(scope, send, 422, "JSON 嵌套过深", f"JSON 嵌套超过 {MAX_JSON_DEPTH} 层")
                return
            if _JSON_NUL.search(body):  # JSON text carries a NUL only escaped
                await _refuse(scope, send, 422, "含 NUL 字符", "不能含 NUL 字符")
                return
        replayed = replay([{"type": "http.request", "body": body, "more_body": False}], receive)
        await self.app(scope, replayed, send)


def replay(messages: list[Message], then: Receive) -> Receive:
    """Hand the app what was already read, then the connection itself (a disconnect arrives when it happens)."""
    queue = list(messages)

    async def receive() -> Message:
        if queue:
            return queue.pop(0)
        return await then()

    return receive


def _field_with_nul(scope: Scope) -> str | None:
    """The query parameter (or the path) that carries a NUL character, if any."""
    if "\x00" in scope.get("path", ""):
        return "path"
    query = scope.get("query_string", b"")
    if b"%00" not in query and b"\x00" not in query:
        return None
    for name, value in parse_qsl(query.decode("latin-1"), keep_blank_values=True):
        if "\x00" in name or "\x00" in value:
            return f"query.{name}"
    return "query"


async def _refuse(scope: Scope, send: Send, status: int, title: str, reason: str, field: str = "body") -> None:
    body = json.dumps(
        {"type": "about:blank", "title": title, "status": status, "detail": f"{field}: {reason}",
         "instance": scope.get("path", ""), "errors": [{"field": field, "reason": reason}]},
        ensure_ascii=False,
    ).encode()  # fmt: skip
    headers = [(b"content-type", b"application/problem+json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
