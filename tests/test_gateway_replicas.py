"""The gateway in front of a service's replicas, each replica its own process (docs/adr/0034).

Real processes throughout: `python -m services.gateway` (HAProxy its child) in front of replicas of
`tests.replica_upstream`, which write every request they receive to one arrivals file before they answer. The tests
count those arrivals: both replicas get traffic; requests held by a replica SIGKILLed under them are answered by
another one when they are safe to send twice (GET, or a command with an Idempotency-Key) and never re-sent when
not (a POST without a key is answered 503 and reached one replica only); with every replica killed the answer is
a quick 503 problem+json with Retry-After, never a 502 or an internal address.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from shared.devstack.embedded import free_port
from tests.test_gateway_process import ROOT, gateway_process, wait_for

HOLD_MS = 400  # long enough for a test to see a request arrive and kill the replica holding it


@dataclass
class Replica:
    name: str
    proc: subprocess.Popen[bytes]
    url: str

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)


@dataclass
class Arrival:
    replica: str
    method: str
    path: str
    key: str


def arrivals(path: Path) -> list[Arrival]:
    if not path.exists():
        return []
    return [Arrival(*line.split(" ")) for line in path.read_text(encoding="utf-8").splitlines() if line.count(" ") == 3]


@asynccontextmanager
async def replicas(count: int, tmp_path: Path) -> AsyncIterator[list[Replica]]:
    started: list[Replica] = []
    env = {k: v for k, v in os.environ.items() if not k.startswith("TIAODU_")} | {"PYTHONPATH": str(ROOT)}
    try:
        for i in range(1, count + 1):
            port = free_port()
            command = [sys.executable, "-m", "tests.replica_upstream", str(port), f"r{i}", str(tmp_path / "arrivals")]
            with (tmp_path / f"r{i}.log").open("wb") as log:
                proc = await asyncio.to_thread(
                    subprocess.Popen, command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT
                )
            started.append(Replica(f"r{i}", proc, f"http://127.0.0.1:{port}"))
        async with httpx.AsyncClient(timeout=2) as client:
            for replica in started:

                async def ready(replica: Replica = replica) -> bool:
                    assert replica.proc.poll() is None, (tmp_path / f"{replica.name}.log").read_text()
                    try:
                        return (await client.get(f"{replica.url}/readyz")).status_code == 200
                    except httpx.TransportError:
                        return False

                await wait_for(f"replica {replica.name} ready", ready, 30)
        yield started
    finally:
        for replica in started:
            if replica.proc.poll() is None:
                replica.kill()


@asynccontextmanager
async def balanced(count: int, tmp_path: Path) -> AsyncIterator[tuple[list[Replica], httpx.AsyncClient]]:
    """`count` replicas of one service behind a gateway, the service's route loaded and every replica in rotation."""
    async with (
        replicas(count, tmp_path) as started,
        gateway_process(["|".join(r.url for r in started)], tmp_path) as gateway,
        httpx.AsyncClient(base_url=gateway.url, timeout=30) as client,
    ):
        seen: set[str] = set()

        async def all_in_rotation() -> bool:
            r = await client.get("/v1/whoami")
            if r.status_code == 200:
                seen.add(r.json()["replica"])
            return seen == {r.name for r in started}

        await wait_for("every replica answering through the gateway", all_in_rotation, 30)
        (tmp_path / "arrivals").unlink()
        yield started, client


async def test_every_replica_gets_traffic(tmp_path: Path) -> None:
    """Concurrent GETs through the gateway are balanced: each of two replicas serves a fair part of them."""
    async with balanced(2, tmp_path) as (_, client):
        answers = await asyncio.gather(*(client.get("/v1/whoami", params={"hold_ms": 20}) for _ in range(60)))
        assert all(r.status_code == 200 for r in answers)
        served = Counter(r.json()["replica"] for r in answers)
        assert set(served) == {"r1", "r2"} and min(served.values()) >= 15, served
        assert Counter(a.replica for a in arrivals(tmp_path / "arrivals")) == served  # each sent once


async def test_gets_held_by_a_killed_replica_are_answered_by_another(tmp_path: Path) -> None:
    """Three replicas under a load of GETs, each held 400 ms; one is SIGKILLed while it holds some of them. Every
    GET is answered 200, those the victim held by another replica (HAProxy's retry on an empty response), and after
    the kill the victim gets nothing more (its health check failed)."""
    async with balanced(3, tmp_path) as (started, client):
        victim = started[0]

        async def one(n: int) -> httpx.Response:
            return await client.get("/v1/whoami", params={"hold_ms": HOLD_MS}, headers={"Idempotency-Key": f"g{n}"})

        wave = [asyncio.create_task(one(n)) for n in range(30)]

        async def victim_holds_some() -> bool:
            return sum(a.replica == victim.name for a in arrivals(tmp_path / "arrivals")) >= 3

        await wait_for("the victim holding requests", victim_holds_some, 10)
        victim.kill()
        held = {a.key for a in arrivals(tmp_path / "arrivals") if a.replica == victim.name}
        after = [asyncio.create_task(one(n)) for n in range(30, 60)]
        answers = await asyncio.gather(*wave, *after)
        assert [r.status_code for r in answers] == [200] * 60, [r.text for r in answers if r.status_code != 200]
        assert victim.name not in {r.json()["replica"] for r in answers}
        others = {a.key for a in arrivals(tmp_path / "arrivals") if a.replica != victim.name}
        assert held and held <= others  # each request the victim died holding was sent again, to another replica
        assert {f"g{n}" for n in range(60)} <= others


async def test_a_command_is_resent_only_with_an_idempotency_key(tmp_path: Path) -> None:
    """A POST whose replica is SIGKILLed while holding it. Without an Idempotency-Key it is not sent again (it may
    have been applied: only the client can decide) and reached that replica only; the client gets HAProxy's 503
    problem+json, or, when HAProxy had sent it on a reused upstream connection, its own connection closed without
    an answer (HAProxy's rule for keep-alive failures: what a client talking to the replica directly would see).
    With a key it is sent to another replica and answered 200 (the key makes a second append the same event,
    shared/commands.py), having reached both."""
    async with balanced(3, tmp_path) as (started, gateway_client):  # one killed per command, one left to retry on
        by_name = {r.name: r for r in started}
        for key in (None, "k-1"):
            headers = {"Idempotency-Key": key} if key else {}
            async with httpx.AsyncClient(base_url=str(gateway_client.base_url), timeout=30) as client:
                posted = asyncio.create_task(client.post("/v1/commands", params={"hold_ms": 5000}, headers=headers))
                holder = ""

                async def arrived(key: str = key or "-") -> bool:
                    nonlocal holder
                    holder = next((a.replica for a in arrivals(tmp_path / "arrivals") if a.key == key), "")
                    return bool(holder)

                await wait_for("the command reaching a replica", arrived, 10)
                by_name[holder].kill()
                try:
                    r = await posted
                except httpx.RemoteProtocolError:
                    assert key is None, "a command with a key must be answered"
                    r = None
            reached = [a.replica for a in arrivals(tmp_path / "arrivals") if a.key == (key or "-")]
            if key is None:
                if r is not None:  # the gateway's own answer when its upstream connection was a fresh one
                    assert r.status_code == 503 and r.headers["content-type"] == "application/problem+json", r.text
                    assert int(r.headers["retry-after"]) > 0
                assert reached == [holder]
            else:
                assert r.status_code == 200 and r.json()["replica"] != holder, r.text
                assert reached == [holder, r.json()["replica"]]


async def test_no_replica_up_is_a_quick_503_problem_with_retry_after(tmp_path: Path) -> None:
    """Every replica SIGKILLed: GETs and commands are answered 503 problem+json with Retry-After within a few
    seconds each, never a 502 and never an internal address or a stack trace."""
    async with balanced(2, tmp_path) as (started, client):
        for replica in started:
            replica.kill()
        for _ in range(3):  # at once (connections refused), and after the health checks took them out
            for method, path in (("GET", "/v1/whoami"), ("POST", "/v1/commands")):
                began = time.monotonic()
                r = await client.request(method, path)
                assert time.monotonic() - began < 5.0
                assert r.status_code == 503, r.text
                assert r.headers["content-type"] == "application/problem+json"
                assert int(r.headers["retry-after"]) > 0
                assert r.json() == r.json() | {"status": 503, "title": "服务暂不可用", "instance": path}
                assert "127.0.0.1" not in r.text and "http" not in r.text and "Traceback" not in r.text
            await asyncio.sleep(1.0)
