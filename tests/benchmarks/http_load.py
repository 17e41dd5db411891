"""The load client, in its own process: keep-alive connections posting progress reports.

`python -m tests.benchmarks.http_load '<job>'` with job {"base_url", "token", "projects": {id: version},
"concurrency", "seconds", "client": "lean" | "aiohttp" | "httpx", "rate": events/s or absent} prints one JSON line.

- Closed loop (no rate): `concurrency` clients, each owning its projects, so its If-Match version is always current
  and every answer should be 201; answers count, errors, per_s, p50_ms, p99_ms and the projects' new versions.
- Paced clients (pace): the closed loop's clients, each due to send at its share of a steady rate (wrk2's model):
  the latency at a sustained rate, each command timed from the moment it was due.
- Paced (rate): commands are due at a steady rate round robin over the projects, whatever the answers do (the
  sustained-rate latency and the projection lag measurements), each with If-Match after its project's previous
  answer, over at most `concurrency` connections; each acknowledged command is listed as [seq, monotonic time of its
  answer] (CLOCK_MONOTONIC is one clock for every process of the machine). A command's latency runs from the moment
  it was due, not from when it got a connection: a command held back (every connection busy, its project's previous
  command unanswered) counts that wait, so a server that falls behind the pace shows in the figures (no coordinated
  omission).

The default client is lean (tests/benchmarks/lean_http.py: ~0.1 ms of CPU per request here); aiohttp takes ~0.25 ms
and httpx about three times that, enough to make the client the bottleneck of one process at 1,000 requests/s
(`client_cpu_s` in the answer shows what the client used). The client shares the machine with what it measures.
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import time
from collections.abc import Awaitable, Callable
from datetime import date, timedelta
from typing import Any

import aiohttp
import httpx
import uvloop

from tests.benchmarks.lean_http import ConnectionLost, KeepAlivePool
from tests.benchmarks.processes import cpu_seconds, job_argument

REPORT = {"investment_this_period": "1", "image_progress_pct": "1"}
FIRST_DAY = date(2024, 1, 1)


def report_body(headers: dict[str, str]) -> dict[str, str]:
    """A report for one day, the day after the project's previous one: a project's periods may not overlap, and the
    version a report is sent at (If-Match) is one higher than its previous report's, so day = version."""
    day = (FIRST_DAY + timedelta(days=int(headers["If-Match"]))).isoformat()
    return {**REPORT, "period_start": day, "period_end": day}


# (path, headers) -> (status, body)
Post = Callable[[str, dict[str, str]], Awaitable[tuple[int, dict[str, Any] | str]]]
Connect = Callable[[], Awaitable[None]]  # opens the client's keep-alive connections


def quantiles_ms(latencies: list[float]) -> tuple[float, float]:
    if len(latencies) < 2:
        return (latencies[0] * 1000, latencies[0] * 1000) if latencies else (0.0, 0.0)
    q = statistics.quantiles(latencies, n=100, method="inclusive")
    return q[49] * 1000, q[98] * 1000


def follow_current_version(versions: dict[str, int], project: str, body: dict[str, Any] | str) -> None:
    """After a refused command (412/409 name the current version): go on from there. A command whose answer was
    lost (a transport error, status 0) may have been applied: its project's next command finds out the same way."""
    if isinstance(body, dict) and isinstance(body.get("current_version"), int):
        versions[project] = body["current_version"]


async def send_one(
    post: Post, versions: dict[str, int], project: str, since: float, latencies: list[float], errors: list[str]
) -> None:
    """One command on `project` at its current version: its latency from `since` when it is answered 201, else its
    error (and the version a refusal names, for the project's next command)."""
    status, body = await post(project, {"If-Match": str(versions[project])})
    if status != 201 or not isinstance(body, dict):
        errors.append(f"{status} {str(body)[:200]}")
        follow_current_version(versions, project, body)
        return
    latencies.append(time.perf_counter() - since)
    versions[project] = body["version"]


async def closed_loop(post: Post, projects: dict[str, int], concurrency: int, seconds: float) -> dict[str, Any]:
    latencies: list[float] = []
    errors: list[str] = []
    ids = sorted(projects)
    versions = dict(projects)
    deadline = time.perf_counter() + seconds

    async def client(mine: list[str]) -> None:
        n = 0
        while time.perf_counter() < deadline:
            project = mine[n % len(mine)]
            n += 1
            await send_one(post, versions, project, time.perf_counter(), latencies, errors)

    start = time.perf_counter()
    await asyncio.gather(*(client(ids[i::concurrency]) for i in range(concurrency)))
    elapsed = time.perf_counter() - start
    p50, p99 = quantiles_ms(latencies)
    return {"count": len(latencies), "errors": len(errors), "first_errors": errors[:3], "elapsed_s": elapsed,
            "per_s": len(latencies) / elapsed, "p50_ms": p50, "p99_ms": p99, "versions": versions}  # fmt: skip


async def paced_clients(
    post: Post, connect: Connect, projects: dict[str, int], concurrency: int, rate: float, seconds: float
) -> dict[str, Any]:
    """`concurrency` clients, each owning its projects as in the closed loop, together due to send `rate` commands/s:
    client k's n-th command is due at start + (n * concurrency + k) / rate (wrk2's constant-throughput model). A
    client behind its schedule sends at once, and every latency runs from the moment its command was due, so falling
    behind the pace shows in the figures (no coordinated omission).

    The keep-alive connections are open before the schedule starts, as a steady client's are (wrk2 connects first
    too): opened on demand, the first commands of every round waited on 32 connections being accepted at once and
    on the client's own start, and that burst alone was a third of the slow commands of a round (measured)."""
    await connect()
    latencies: list[float] = []
    errors: list[str] = []
    ids = sorted(projects)
    versions = dict(projects)
    start = time.perf_counter() + 0.01
    per_client = int(rate * seconds) // concurrency

    async def client(k: int, mine: list[str]) -> None:
        for n in range(per_client):
            due = start + (n * concurrency + k) / rate
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            await send_one(post, versions, mine[n % len(mine)], due, latencies, errors)

    await asyncio.gather(*(client(k, ids[k::concurrency]) for k in range(concurrency)))
    elapsed = time.perf_counter() - start
    p50, p99 = quantiles_ms(latencies)
    return {"count": len(latencies), "due": per_client * concurrency, "errors": len(errors),
            "first_errors": errors[:3], "elapsed_s": elapsed, "per_s": len(latencies) / elapsed, "p50_ms": p50,
            "p99_ms": p99, "max_ms": max(latencies, default=0.0) * 1000, "versions": versions}  # fmt: skip


async def paced(post: Post, projects: dict[str, int], rate: float, seconds: float) -> dict[str, Any]:
    ids = sorted(projects)
    versions: dict[str, int] = dict(projects)
    # A project's next command waits for its previous answer (its If-Match must be current); the pace holds as
    # long as one project's command is answered within len(ids) / rate seconds.
    locks = {project: asyncio.Lock() for project in ids}
    acks: list[tuple[int, float]] = []
    errors: list[str] = []
    latencies: list[float] = []
    tasks: set[asyncio.Task[None]] = set()

    async def send(project: str, due: float) -> None:
        async with locks[project]:
            status, body = await post(project, {"If-Match": str(versions[project])})
            if status != 201 or not isinstance(body, dict):
                errors.append(f"{status} {str(body)[:200]}")
                follow_current_version(versions, project, body)
                return
            acks.append((int(body["seq"]), time.monotonic()))
            latencies.append(time.perf_counter() - due)
            versions[project] = int(body["version"])

    total = int(rate * seconds)
    start = time.perf_counter()
    for i in range(total):
        due = start + i / rate
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)  # the pace itself: each command leaves at its slot, answered or not
        task = asyncio.create_task(send(ids[i % len(ids)], due))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
    sent_s = time.perf_counter() - start
    await asyncio.gather(*list(tasks))
    elapsed = time.perf_counter() - start
    p50, p99 = quantiles_ms(latencies)
    return {"count": len(acks), "sent": total, "sent_s": sent_s, "elapsed_s": elapsed, "errors": len(errors),
            "first_errors": errors[:3], "acks": acks, "p50_ms": p50, "p99_ms": p99, "versions": versions}  # fmt: skip


async def run(job: dict[str, Any]) -> dict[str, Any]:
    base, token, concurrency = job["base_url"], job["token"], job["concurrency"]
    auth = {"Authorization": f"Bearer {token}"}

    async def measure(post: Post, connect: Connect) -> dict[str, Any]:
        if job.get("pace"):
            return await paced_clients(post, connect, job["projects"], concurrency, job["pace"], job["seconds"])
        if job.get("rate"):
            return await paced(post, job["projects"], job["rate"], job["seconds"])
        return await closed_loop(post, job["projects"], concurrency, job["seconds"])

    if job.get("client", "lean") == "lean":
        pool = KeepAlivePool(base, concurrency, auth)

        async def post_lean(project: str, headers: dict[str, str]) -> tuple[int, dict[str, Any] | str]:
            try:
                path, body = f"/v1/projects/{project}/progress-reports", report_body(headers)
                status, raw = await pool.request("POST", path, body, headers)
            except (OSError, ConnectionLost) as exc:  # counted as an error of the round, never ending it
                return 0, f"{type(exc).__name__}: {exc}"
            return status, json.loads(raw) if status in (201, 409, 412) else raw.decode(errors="replace")

        try:
            return await measure(post_lean, pool.open)
        finally:
            pool.close()
    if job.get("client") == "httpx":
        limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
        async with httpx.AsyncClient(base_url=base, limits=limits, headers=auth, timeout=30) as client:

            async def post_httpx(project: str, headers: dict[str, str]) -> tuple[int, dict[str, Any] | str]:
                try:
                    path, body = f"/v1/projects/{project}/progress-reports", report_body(headers)
                    r = await client.post(path, json=body, headers=headers)
                except httpx.TransportError as exc:  # counted as an error of the round, never ending it
                    return 0, f"{type(exc).__name__}: {exc}"
                return r.status_code, r.json() if r.status_code in (201, 409, 412) else r.text

            async def connect_httpx() -> None:
                await asyncio.gather(*(client.get("/healthz") for _ in range(concurrency)))

            return await measure(post_httpx, connect_httpx)
    connector = aiohttp.TCPConnector(limit=concurrency, force_close=False)
    timeout = aiohttp.ClientTimeout(total=30)
    async with aiohttp.ClientSession(base, connector=connector, headers=auth, timeout=timeout) as session:

        async def post_aiohttp(project: str, headers: dict[str, str]) -> tuple[int, dict[str, Any] | str]:
            try:
                path, body = f"/v1/projects/{project}/progress-reports", report_body(headers)
                async with session.post(path, json=body, headers=headers) as r:
                    if r.status in (201, 409, 412):
                        return r.status, await r.json(content_type=None)
                    return r.status, await r.text()
            except aiohttp.ClientError as exc:  # counted as an error of the round, never ending it
                return 0, f"{type(exc).__name__}: {exc}"

        async def connect_aiohttp() -> None:
            async def one() -> None:
                async with session.get("/healthz") as r:
                    await r.read()

            await asyncio.gather(*(one() for _ in range(concurrency)))

        return await measure(post_aiohttp, connect_aiohttp)


if __name__ == "__main__":
    cpu_before = cpu_seconds(os.getpid())
    answer = uvloop.run(run(job_argument()))  # the services' event loop: the client's own CPU is the machine's too
    answer["client_cpu_s"] = cpu_seconds(os.getpid()) - cpu_before
    print(json.dumps(answer))
