"""Forwarding one request to its upstream at the ASGI level: bodies streamed both ways, never parsed or re-encoded.

The proxied path bypasses FastAPI's routing, Request and StreamingResponse (whose per-request task group and body
buffering cost more than the forwarding itself); each upstream has one pooled keep-alive client.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import AsyncIterator
from typing import Any

import httpx
from starlette.types import Receive, Scope, Send

from shared.problems import Problem, problem_response

log = logging.getLogger("tiaodu.gateway")

HOP_BY_HOP = frozenset(
    b"connection keep-alive proxy-authenticate proxy-authorization proxy-connection te trailer trailers "
    b"transfer-encoding upgrade".split()
)
# The gateway sets these itself (host comes from the upstream URL); content-length passes on only with a body.
REPLACED = frozenset({b"host", b"content-length", b"x-forwarded-for", b"x-forwarded-host", b"x-forwarded-proto"})
RETRY_AFTER_S = 2  # a restarting service is back within seconds (make run, a rolling deploy)
# uvicorn closes an idle keep-alive connection after 5 s: expiring ours first avoids sending on a closing socket.
KEEPALIVE_EXPIRY_S = 4.0
MAX_CONNECTIONS_PER_POOL = 64
# httpcore's pool checks every connection for every waiting request, on every request start and end: at 32
# concurrent requests that scan was two thirds of the gateway's CPU. Eight small pools taken in turn cost 64x less.
POOLS_PER_UPSTREAM = 8
# Reads may wait for a projection (min_seq, wait_ms) and reports render documents: generous but bounded.
TIMEOUT = httpx.Timeout(connect=2.0, read=60.0, write=10.0, pool=5.0)


class UpstreamClients:
    """Pooled keep-alive clients to one upstream, used in turn; `aclose` closes them all."""

    def __init__(self, base_url: str, pools: int = POOLS_PER_UPSTREAM) -> None:
        limits = httpx.Limits(
            max_connections=MAX_CONNECTIONS_PER_POOL,
            max_keepalive_connections=MAX_CONNECTIONS_PER_POOL,  # httpx's default keeps 20 and reconnects the rest
            keepalive_expiry=KEEPALIVE_EXPIRY_S,
        )
        self.base_url = base_url
        self.clients = [
            httpx.AsyncClient(base_url=base_url, limits=limits, timeout=TIMEOUT, trust_env=False) for _ in range(pools)
        ]  # redirects are the client's business: httpx follows none by default
        self._turns = itertools.cycle(self.clients)

    def next(self) -> httpx.AsyncClient:
        return next(self._turns)

    async def aclose(self) -> None:
        for client in self.clients:
            await client.aclose()


def _connection_tokens(headers: list[tuple[bytes, bytes]]) -> set[bytes]:
    """Headers named in `Connection` are hop-by-hop too (RFC 9110 §7.6.1)."""
    named: set[bytes] = set()
    for key, value in headers:
        if key == b"connection":
            named.update(token.strip().lower() for token in value.split(b","))
    return named


def outgoing_headers(scope: Scope) -> list[tuple[bytes, bytes]]:
    incoming: list[tuple[bytes, bytes]] = scope["headers"]
    dropped = HOP_BY_HOP | REPLACED | _connection_tokens(incoming)
    headers = [(k, v) for k, v in incoming if k not in dropped]
    values = dict(incoming)  # ASGI header names are lower-case bytes
    client = scope.get("client")
    client_host = client[0].encode("latin-1") if client else b"unknown"
    previous = values.get(b"x-forwarded-for")
    headers.append((b"x-forwarded-for", previous + b", " + client_host if previous else client_host))
    headers.append((b"x-forwarded-host", values.get(b"host", b"")))
    headers.append((b"x-forwarded-proto", scope.get("scheme", "http").encode("latin-1")))
    if b"content-length" in values:
        headers.append((b"content-length", values[b"content-length"]))
    return headers


def _has_body(scope: Scope) -> bool:
    values = dict(scope["headers"])
    length = values.get(b"content-length")
    return b"transfer-encoding" in values or (length is not None and length.strip() != b"0")


async def _request_body(receive: Receive) -> AsyncIterator[bytes]:
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return
        chunk: bytes = message.get("body", b"")
        if chunk:
            yield chunk
        if not message.get("more_body", False):
            return


async def forward(upstream: UpstreamClients, scope: Scope, receive: Receive, send: Send) -> None:
    client = upstream.next()
    target = (scope.get("raw_path") or scope["path"].encode()).decode("latin-1")
    if scope.get("query_string"):
        target += "?" + scope["query_string"].decode("latin-1")
    content = _request_body(receive) if _has_body(scope) else None
    request = client.build_request(scope["method"], target, headers=outgoing_headers(scope), content=content)
    try:
        response = await client.send(request, stream=True)
    except httpx.TimeoutException as exc:
        await _unavailable(scope, send, client, exc, timed_out=isinstance(exc, httpx.ReadTimeout))
        return
    except httpx.TransportError as exc:
        await _unavailable(scope, send, client, exc, timed_out=False)
        return
    try:
        dropped = HOP_BY_HOP | _connection_tokens(response.headers.raw)
        headers = [(k.lower(), v) for k, v in response.headers.raw if k.lower() not in dropped]
        await send({"type": "http.response.start", "status": response.status_code, "headers": headers})
        async for chunk in response.aiter_raw():
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})
    finally:
        await response.aclose()


async def _unavailable(scope: Scope, send: Send, client: httpx.AsyncClient, exc: Exception, *, timed_out: bool) -> None:
    """503 (or 504 when it accepted the request but did not answer in time), naming no internal address."""
    log.warning("upstream %s failed for %s %s: %r", client.base_url, scope["method"], scope["path"], exc)
    retry = {"Retry-After": str(RETRY_AFTER_S)}
    if timed_out:
        problem = Problem(504, "上游服务未能及时应答,请稍后重试", title="网关超时", headers=retry)
    else:
        problem = Problem(503, "上游服务暂时不可用,请稍后重试", title="服务暂不可用", headers=retry)
    await problem_response(problem, scope["path"])(scope, _no_receive, send)


async def _no_receive() -> dict[str, Any]:
    return {"type": "http.disconnect"}
