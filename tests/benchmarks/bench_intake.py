"""Benchmarks on real servers (not part of the suite): `make bench`.

Measures command throughput through intake's HTTP API (in-process ASGI, so the figure is the service itself, not a
network), read-your-write latency, and the projection's rebuild rate from the log.
"""

from __future__ import annotations

import asyncio
import statistics
import time

from services.intake.bootstrap import create_app, read_model
from shared.rebuild import rebuild
from tests.benchmarks.servers import bench_settings
from tests.platform import auth, bootstrap_and_wait, project_body, running, runtime_of

REPORT = {
    "period_start": "2024-03-01",
    "period_end": "2024-03-07",
    "investment_this_period": "1",
    "image_progress_pct": "1",
}


async def main(projects: int = 50, reports: int = 4000, concurrency: int = 32) -> None:
    async with bench_settings() as settings:
        app = create_app(settings)
        async with running(app) as client:
            rt = runtime_of(app)
            tokens = await bootstrap_and_wait(rt)
            hq, unit = auth(tokens["hq"]), auth(tokens["unit-a"])
            r = await client.post("/v1/programmes", json={"id": "prog", "name": "计划", "year": 2024}, headers=hq)
            await client.get("/v1/programmes/prog", params={"min_seq": r.json()["seq"]}, headers=hq)
            ids = []
            for i in range(projects):
                r = await client.post("/v1/projects", json=project_body(name=f"项目{i}"), headers=hq)
                ids.append(r.json()["id"])
            queue = list(range(reports))
            latencies: list[float] = []

            async def worker() -> None:
                while queue:
                    n = queue.pop()
                    t0 = time.perf_counter()
                    r = await client.post(
                        f"/v1/projects/{ids[n % projects]}/progress-reports", json=REPORT, headers=unit
                    )
                    assert r.status_code == 201, r.text
                    latencies.append(time.perf_counter() - t0)

            start = time.perf_counter()
            await asyncio.gather(*(worker() for _ in range(concurrency)))
            elapsed = time.perf_counter() - start
            last = await rt.store.last_seq()
            t0 = time.perf_counter()
            assert await rt.runner.wait_for(last, 60)
            drain = time.perf_counter() - t0
            print(
                f"progress reports: {reports} in {elapsed:.2f}s = {reports / elapsed:.0f}/s "
                f"({concurrency} concurrent clients, {projects} projects)"
            )
            q = statistics.quantiles(latencies, n=100)
            print(f"command latency: p50 {q[49] * 1000:.1f} ms, p99 {q[98] * 1000:.1f} ms")
            print(f"projection caught up {drain * 1000:.0f} ms after the last write")
            ryw = []
            for i in range(100):
                r = await client.post(f"/v1/projects/{ids[i % projects]}/progress-reports", json=REPORT, headers=unit)
                t0 = time.perf_counter()
                g = await client.get(
                    f"/v1/projects/{ids[i % projects]}", params={"min_seq": r.json()["seq"]}, headers=hq
                )
                assert g.status_code == 200
                ryw.append(time.perf_counter() - t0)
            q = statistics.quantiles(ryw, n=100)
            print(f"read-your-write (GET with min_seq): p50 {q[49] * 1000:.1f} ms, p99 {q[98] * 1000:.1f} ms")
            last = await rt.store.last_seq()
            t0 = time.perf_counter()
            result = await rebuild(rt.pool, rt.store, read_model(), "intake_bench_rebuild", until_seq=last)
            took = time.perf_counter() - t0
            print(f"rebuild from seq 1: {result.applied} events in {took:.2f}s = {result.applied / took:.0f}/s")


if __name__ == "__main__":
    asyncio.run(main())
