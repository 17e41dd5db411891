"""`make run REPLICAS=intake=2,scheduling=2` (without the demo): each replica its own process, port and REPLICA_ID,
the gateway in front of all of them. A replica SIGKILLed leaves its service served by the other; both killed, the
base URL answers 503 problem+json with Retry-After."""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path

import asyncpg
import httpx

from shared.devstack.embedded import Server
from shared.devstack.stack import Stack
from tests.platform import wait_until


async def test_make_run_starts_replicas_behind_the_gateway(servers: tuple[Server, Server], tmp_path: Path) -> None:
    _, pg_server = servers
    conn = await asyncpg.connect(pg_server.url)
    await conn.execute("CREATE DATABASE replicas_run")
    await conn.close()
    env = {
        **{k: v for k, v in os.environ.items() if k not in {"NATS_URL", "DATABASE_URL"} and not k.startswith("NATS_")},
        "DATABASE_URL": pg_server.url.rsplit("/", 1)[0] + "/replicas_run",
        "TIAODU_STREAM": "REPLICAS",
        "TIAODU_SUBJECT_PREFIX": "replicas",
        "TIAODU_REPLICAS": "intake=2,scheduling=2",
    }
    stack = await asyncio.to_thread(Stack(run_dir=tmp_path / "run", env=env, demo=False).start)
    try:
        intake = stack.replicas_of("intake")
        assert [c.name for c in intake] == ["intake", "intake-2"]
        assert len(stack.replicas_of("scheduling")) == 2 and len(stack.replicas_of("notification")) == 1
        assert len({c.url for c in stack.services}) == len(stack.services)  # a port each
        assert all((tmp_path / "run" / "logs" / f"{c.name}.log").exists() for c in stack.services)
        async with httpx.AsyncClient(base_url=stack.base_url, timeout=10) as client:

            async def healthy_servers() -> list[float]:  # per service backend, from the gateway's HAProxy exporter
                scraped = (await client.get(stack.gateway_metrics_url)).text
                return sorted(float(line.rsplit(" ", 1)[1]) for line in scraped.splitlines()
                              if line.startswith('haproxy_backend_active_servers{proxy="upstream_'))  # fmt: skip

            async def healthy_are(expected: list[float]) -> bool:
                return await healthy_servers() == expected

            others = [1.0] * (len(stack.replicas) - 2)  # the services with one replica each
            await wait_until(lambda: healthy_are([*others, 2.0, 2.0]), 10, "every replica healthy in the gateway")
            # Served by intake (it asks for a token), not by the gateway, with one replica or the other gone.
            assert (await client.get("/v1/projects")).status_code == 401
            intake[0].proc.send_signal(signal.SIGKILL)
            for _ in range(10):
                assert (await client.get("/v1/projects")).status_code == 401
            intake[1].proc.send_signal(signal.SIGKILL)

            async def refused() -> bool:
                try:
                    r = await client.get("/v1/projects")
                except httpx.RemoteProtocolError:
                    # A request HAProxy had already sent on a pooled connection to a replica that died: it closes
                    # the client's kept-alive connection without an answer (docs/adr/0034); the next one is 503.
                    return False
                return r.status_code == 503 and r.headers["content-type"] == "application/problem+json"

            await wait_until(refused, 10, "the base URL answering 503 with no intake replica up")
            # Its health checks (every second) take both out: the gateway's metrics show intake with none.
            await wait_until(lambda: healthy_are([0.0, *others, 2.0]), 10, "the gateway's metrics showing intake down")
            r = await client.get("/v1/projects")
            assert int(r.headers["retry-after"]) > 0 and "127.0.0.1" not in r.text
    finally:
        await asyncio.to_thread(stack.stop)
