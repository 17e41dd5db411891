"""The real gateway process under load while its routing table changes, and answers for upstreams that fail in
ways a stopped one does not (closing without an answer): HAProxy's reloads and error answers (docs/adr/0013)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
from fastapi import FastAPI

from tests.gateway_upstreams import start_upstream
from tests.test_gateway_process import children, gateway_process, wait_for

CLIENTS = 16
RELOADS = 3


def counting_app(received: list[str]) -> FastAPI:
    app = FastAPI()

    @app.get("/v1/count")
    async def count() -> dict[str, int]:
        received.append("count")
        return {"n": len(received)}

    return app


async def test_reloads_under_load_lose_no_request(tmp_path: Path) -> None:
    """Every request that reached the gateway is answered through three reloads. What a reload may do is close a
    client's idle keep-alive connection (HAProxy 2.6's soft stop closes idle connections at once); a request the
    client sent on it at that instant was never read, and HTTP clients retry it (RFC 9112 9.3.1), as this one does."""
    received: list[str] = []
    upstream = await start_upstream(counting_app(received))
    limits = httpx.Limits(max_connections=CLIENTS, max_keepalive_connections=CLIENTS)
    answers: list[int] = []
    closed_unread: list[str] = []
    stop = asyncio.Event()
    try:
        async with (
            gateway_process([upstream.url], tmp_path) as gateway,
            httpx.AsyncClient(base_url=gateway.url, timeout=10, limits=limits) as client,
        ):
            [master] = gateway.haproxy_pids()
            workers = set(children(master))

            async def keep_asking() -> None:
                while not stop.is_set():
                    try:
                        answers.append((await client.get("/v1/count")).status_code)
                    except (httpx.ReadError, httpx.RemoteProtocolError) as exc:  # closed, nothing answered: retry
                        closed_unread.append(repr(exc))

            load = [asyncio.create_task(keep_asking()) for _ in range(CLIENTS)]
            for n in range(RELOADS):
                served_before = len(answers)

                @upstream.app.get(f"/v1/late-{n}/{{x}}")
                async def late(x: str) -> dict[str, str]:
                    return {"x": x}

                upstream.app.openapi_schema = None

                async def routed(n: int = n) -> bool:
                    workers.update(children(master))  # old workers linger while they finish their requests
                    try:
                        r = await client.get(f"/v1/late-{n}/7")
                    except (httpx.ReadError, httpx.RemoteProtocolError) as exc:  # as in keep_asking
                        closed_unread.append(repr(exc))
                        return False
                    return r.status_code == 200 and r.json() == {"x": "7"}

                await wait_for(f"route {n} reaches its upstream", routed, 15)

                async def load_went_on(before: int = served_before) -> bool:
                    return len(answers) > before + CLIENTS

                await wait_for("the load went on through the reload", load_went_on)
            stop.set()
            await asyncio.gather(*load)
        assert answers and set(answers) == {200}
        # Nothing lost in flight: every request the upstream received, the client got the answer of.
        assert len(received) == len(answers)
        assert len(closed_unread) <= RELOADS * CLIENTS, closed_unread  # at most each idle connection, once a reload
        assert len(workers) >= RELOADS + 1, workers  # every new table was a reload: a new worker
    finally:
        stop.set()
        await upstream.stop()


@asynccontextmanager
async def dropping_upstream() -> AsyncIterator[str]:
    """An upstream that declares GET /v1/drop and GET /v1/own-502, then closes the connection on /v1/drop without
    answering (as a process that crashes mid-request) and answers /v1/own-502 with its own 502."""
    spec = {"openapi": "3.1.0", "info": {"title": "t", "version": "1"}}
    spec["paths"] = {"/v1/drop": {"get": {}}, "/v1/own-502": {"get": {}}}
    document = json.dumps(spec).encode()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        if head.startswith((b"GET /openapi.json ", b"GET /v1/own-502 ")):
            status, body = (b"200 OK", document) if head.startswith(b"GET /openapi") else (b"502 Bad Gateway", b"own")
            writer.write(
                b"HTTP/1.1 " + status + b"\r\ncontent-type: application/json\r\nconnection: close\r\n"
                b"x-tiaodu-gateway-error: spoofed\r\ncontent-length: " + str(len(body)).encode() + b"\r\n\r\n" + body
            )
            await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    try:
        yield f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    finally:
        server.close()
        await server.wait_closed()


async def test_an_upstream_that_closes_without_answering_is_503_and_its_own_502_passes(tmp_path: Path) -> None:
    async with (
        dropping_upstream() as url,
        gateway_process([url], tmp_path) as gateway,
        httpx.AsyncClient(base_url=gateway.url, timeout=10) as client,
    ):
        r = await client.get("/v1/drop")
        assert r.status_code == 503 and r.headers["content-type"] == "application/problem+json"
        assert int(r.headers["retry-after"]) > 0
        assert r.json() == r.json() | {"status": 503, "title": "服务暂不可用", "instance": "/v1/drop"}
        assert "x-tiaodu-gateway-error" not in r.headers  # HAProxy's own mark stays inside
        r = await client.get("/v1/own-502")
        assert (r.status_code, r.text) == (502, "own")  # an upstream's answer is never rewritten
        assert "x-tiaodu-gateway-error" not in r.headers
