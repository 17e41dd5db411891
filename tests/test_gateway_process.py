"""`python -m services.gateway` as a real process: HAProxy in front (its child), real uvicorn upstreams behind.

What concerns forwarding is tested here, through the base URL users hit: routing, bodies, headers and statuses
passed on unchanged, streaming both ways, pooled keep-alive connections, a failed upstream, a route added while
running, reloads under load; and the process itself: HAProxy's master CLI stays off the public port, HAProxy never
outlives the gateway.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from shared.devstack.embedded import free_port
from tests.docs_check import assert_docs_served_locally
from tests.gateway_upstreams import Upstream, pooled_app, projects_app, start_upstream, streaming_app

ROOT = Path(__file__).resolve().parents[1]
READY_TIMEOUT_S = 30.0


@dataclass
class GatewayProcess:
    proc: subprocess.Popen[bytes]
    url: str

    def haproxy_pids(self) -> list[int]:
        """HAProxy's master (the gateway's child)."""
        return [pid for pid in children(self.proc.pid) if Path(f"/proc/{pid}/exe").resolve().name == "haproxy"]

    def folder(self, master: int) -> Path:
        """The gateway's private folder: where HAProxy's configuration is."""
        command = Path(f"/proc/{master}/cmdline").read_bytes().split(b"\0")
        return Path(command[command.index(b"-f") + 1].decode()).parent


def children(pid: int) -> list[int]:
    try:
        return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except FileNotFoundError:
        return []


def alive(pid: int) -> bool:
    """Running, not a zombie waiting for its (new) parent to reap it."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


async def wait_for(fact: str, check: object, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not await check():  # type: ignore[operator]
        assert time.monotonic() < deadline, f"not within {timeout}s: {fact}"
        await asyncio.sleep(0.05)


@asynccontextmanager
async def gateway_process(
    upstreams: list[str], tmp_path: Path, extra_env: dict[str, str] | None = None
) -> AsyncIterator[GatewayProcess]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("TIAODU_")} | {
        "TIAODU_GATEWAY_ROUTES": ",".join(upstreams),
        "SERVICE_PORT": str(port),
        "PYTHONPATH": str(ROOT),
        **(extra_env or {}),
    }
    log = tmp_path / f"gateway-{port}.log"
    with log.open("wb") as fh:
        command = [sys.executable, "-m", "services.gateway"]
        proc = await asyncio.to_thread(
            subprocess.Popen, command, cwd=ROOT, env=env, stdout=fh, stderr=subprocess.STDOUT
        )
    gateway = GatewayProcess(proc, f"http://127.0.0.1:{port}")
    try:
        async with httpx.AsyncClient(base_url=gateway.url, timeout=2) as client:

            async def healthy() -> bool:
                assert proc.poll() is None, f"gateway exited: {log.read_text()}"
                try:
                    return (await client.get("/healthz")).status_code == 200
                except httpx.TransportError:
                    return False

            await wait_for("the gateway answers /healthz", healthy, READY_TIMEOUT_S)
        yield gateway
    finally:
        if proc.poll() is None:
            proc.terminate()
            await asyncio.to_thread(proc.wait, 15)


@pytest.fixture(scope="module")
async def gateway(
    upstreams: tuple[Upstream, Upstream], tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[GatewayProcess]:
    async with gateway_process([u.url for u in upstreams], tmp_path_factory.mktemp("gateway")) as running:
        yield running


@pytest.fixture
async def client(gateway: GatewayProcess) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=gateway.url, timeout=10) as c:
        yield c


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

    r = await client.get("/v1/projects/p-1/x")  # a parameter is one segment: no upstream declares this
    assert r.status_code == 404 and r.headers["content-type"] == "application/problem+json"


async def test_body_status_and_headers_pass_through(client: httpx.AsyncClient, gateway: GatewayProcess) -> None:
    r = await client.post(
        "/v1/projects",
        json={"name": "引江济淮", "budget": 7},
        headers={
            "X-Forwarded-For": "10.0.0.9",
            "X-Forwarded-Host": "spoofed.example",  # the gateway says which host and scheme the client used
            "X-Forwarded-Proto": "https",
            "TE": "gzip",
            "X-Custom": "kept",
            "Connection": "X-Hop",
            "X-Hop": "1",
        },
    )
    assert r.status_code == 201
    assert r.json()["body"] == {"name": "引江济淮", "budget": 7}
    assert r.json()["forwarded_for"] == "10.0.0.9, 127.0.0.1"  # the client's header kept, the peer appended
    assert r.json()["te"] is None and r.json()["hop"] is None  # hop-by-hop, dropped
    assert r.json()["custom"] == "kept"
    assert r.json()["forwarded_host"] == gateway.url.removeprefix("http://")
    assert r.json()["forwarded_proto"] == "http"
    assert r.headers["location"] == "/v1/projects/p-1"
    assert len(r.headers.get_list("set-cookie")) == 2

    for connection in ("keep-alive, X-Hop", "keep-alive"):  # persistence named beside a header, or alone
        r = await client.get("/v1/projects/p-1", headers={"Connection": connection, "X-Hop": "1"})
        assert r.status_code == 200 and r.json()["hop"] == (None if "X-Hop" in connection else "1"), connection

    r = await client.post("/v1/issues/i-9/escalations")
    assert r.status_code == 409
    assert r.headers["content-type"] == "application/problem+json"
    assert r.json()["detail"] == "i-9"

    r = await client.post("/v1/projects", json={"name": 1})
    assert r.status_code == 422  # the upstream's own validation answer

    r = await client.delete("/v1/projects/p-1")
    assert r.status_code == 405  # path known, method not: the owner answers


async def test_the_gateways_own_paths_and_unknown_ones(client: httpx.AsyncClient) -> None:
    assert (await client.get("/healthz")).json() == {"status": "ok"}
    assert (await client.get("/readyz")).json() == {"status": "ready"}
    spec = (await client.get("/openapi.json")).json()
    assert "/v1/projects/{project_id}/issues/{issue_id}" in spec["paths"]
    await assert_docs_served_locally(client)  # Swagger UI's files from the gateway itself, not a CDN
    r = await client.get("/v1/nothing-here")
    assert r.status_code == 404 and r.json()["instance"] == "/v1/nothing-here"


async def test_haproxys_own_pages_are_not_on_the_public_port(client: httpx.AsyncClient) -> None:
    """HAProxy's master CLI is a unix socket in the gateway's private folder and no stats page is configured:
    the public port answers these as unknown paths (the control plane's 404)."""
    for method, path in (("GET", "/stats"), ("GET", "/haproxy?stats"), ("GET", "/;csv"), ("POST", "/reload")):
        r = await client.request(method, path)
        assert r.status_code == 404 and r.headers["content-type"] == "application/problem+json", (path, r.text)
    assert (await client.get("/v1/projects/p-1")).status_code == 200


async def test_bodies_stream_through_in_both_directions(tmp_path: Path) -> None:
    first_chunk_seen, release = asyncio.Event(), asyncio.Event()
    upstream = await start_upstream(streaming_app(first_chunk_seen, release))
    try:
        async with (
            gateway_process([upstream.url], tmp_path) as gateway,
            httpx.AsyncClient(base_url=gateway.url, timeout=10) as client,
        ):
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


async def test_concurrent_requests_reuse_pooled_upstream_connections(tmp_path: Path) -> None:
    wave = 32  # the concurrency of the platform's benchmark
    arrived: list[int] = []
    # Without proxy headers the upstream sees the gateway's own socket address, not X-Forwarded-For.
    upstream = await start_upstream(pooled_app(arrived, wave, go := asyncio.Event()), proxy_headers=False)
    limits = httpx.Limits(max_connections=wave, max_keepalive_connections=wave)
    try:
        async with (
            gateway_process([upstream.url], tmp_path) as gateway,
            httpx.AsyncClient(base_url=gateway.url, limits=limits, timeout=10) as client,
        ):
            for _ in range(3):
                go.clear()  # every request of a wave is held until all of them are in flight together
                answers = await asyncio.gather(*(client.get("/v1/hold") for _ in range(wave)))
                assert [a.status_code for a in answers] == [200] * wave
        assert len(arrived) == 3 * wave
        assert len(set(arrived)) == wave  # later waves ran on the first wave's connections
    finally:
        await upstream.stop()


async def test_a_new_route_becomes_routable_and_a_stopped_upstream_is_503_with_retry_after(tmp_path: Path) -> None:
    upstream = await start_upstream(projects_app())
    try:
        async with (
            gateway_process([upstream.url], tmp_path) as gateway,
            httpx.AsyncClient(base_url=gateway.url, timeout=10) as client,
        ):
            assert (await client.get("/v1/projects/p-1")).status_code == 200
            assert (await client.get("/v1/late/7")).status_code == 404

            @upstream.app.get("/v1/late/{x}")
            async def late(x: str) -> dict[str, str]:
                return {"x": x}

            upstream.app.openapi_schema = None

            async def routed() -> bool:
                r = await client.get("/v1/late/7")
                assert r.status_code in (404, 503, 200), r.text  # 503: "just routed, retry" while it loads
                return r.status_code == 200 and r.json() == {"x": "7"}

            # An unknown path makes the control plane refresh (at most once a second), and HAProxy reloads the
            # table; without requests it would within the 10 s refresh.
            await wait_for("the new route reaches its upstream", routed, 15)

            await upstream.stop()
            for method, body in (("GET", None), ("POST", {"name": "x", "budget": 1})):
                started = time.monotonic()
                r = await client.request(method, "/v1/projects" if body else "/v1/projects/p-1", json=body)
                # One retry after HAProxy's turn-around of min(timeout connect, 1 s) for a refused connection (a
                # pooled connection the upstream just closed is retried at once; with replicas, on another one).
                assert time.monotonic() - started < 2.0
                assert r.status_code == 503  # route still known, upstream gone
                assert r.headers["content-type"] == "application/problem+json"
                assert int(r.headers["retry-after"]) > 0
                assert r.json() == r.json() | {"status": 503, "title": "服务暂不可用", "instance": r.url.path}
                port = upstream.url.rsplit(":", 1)[1]
                assert "127.0.0.1" not in r.text and port not in r.text and "http" not in r.text
    finally:
        if not upstream.task.done():
            await upstream.stop()


@contextmanager
def killed_on_exit(pids: list[int]) -> Iterator[None]:
    """If the assertion fails, the test still cleans up what it proved was left behind."""
    try:
        yield
    finally:
        for pid in pids:
            if alive(pid):
                os.kill(pid, signal.SIGKILL)


async def test_haproxy_dies_with_the_gateway_even_on_sigkill(
    upstreams: tuple[Upstream, Upstream], tmp_path: Path
) -> None:
    async with gateway_process([upstreams[0].url], tmp_path) as gateway:
        [master] = gateway.haproxy_pids()
        workers = children(master)
        assert workers, "HAProxy's master runs a worker"
        folder = gateway.folder(master)
        assert (folder / "haproxy-master.sock").is_socket() and folder.stat().st_mode & 0o077 == 0  # private
        with killed_on_exit([master, *workers]):
            gateway.proc.send_signal(signal.SIGKILL)
            await asyncio.to_thread(gateway.proc.wait, 5)

            async def haproxy_gone() -> bool:
                return not any(alive(pid) for pid in (master, *workers))

            await wait_for("HAProxy's master and worker exit after the gateway was killed", haproxy_gone, 5)
        with pytest.raises(httpx.TransportError):  # nothing listens on the base URL any more
            async with httpx.AsyncClient(base_url=gateway.url, timeout=2) as client:
                await client.get("/healthz")
    assert folder.exists()  # a killed gateway cannot clean up after itself...
    async with gateway_process([upstreams[0].url], tmp_path):
        assert not folder.exists()  # ...the next one does


async def test_haproxy_stops_with_the_gateway_on_sigterm(upstreams: tuple[Upstream, Upstream], tmp_path: Path) -> None:
    async with gateway_process([upstreams[0].url], tmp_path) as gateway:
        [master] = gateway.haproxy_pids()
        workers = children(master)
        with killed_on_exit([master, *workers]):
            gateway.proc.terminate()
            # uvicorn ends by re-raising the signal it handled, after the app's shutdown stopped HAProxy.
            assert await asyncio.to_thread(gateway.proc.wait, 15) == -signal.SIGTERM
            assert not any(alive(pid) for pid in (master, *workers))
