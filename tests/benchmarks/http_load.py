"""A load client in its own process: N keep-alive connections posting progress reports with If-Match.

`python -m tests.benchmarks.http_load` reads {"base_url", "token", "projects": {id: version}, "concurrency",
"seconds"} as JSON on stdin and prints {"count", "errors", "elapsed_s", "p50_ms", "p99_ms"} as JSON. Each client
owns its own projects, so its If-Match version is always current and every answer should be 201.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import sys
import time
from typing import Any

import httpx

REPORT = {
    "period_start": "2024-03-01",
    "period_end": "2024-03-07",
    "investment_this_period": "1",
    "image_progress_pct": "1",
}


async def run(base_url: str, token: str, projects: dict[str, int], concurrency: int, seconds: float) -> dict[str, Any]:
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    headers = {"Authorization": f"Bearer {token}"}
    latencies: list[float] = []
    errors: list[str] = []
    ids = sorted(projects)
    versions = dict(projects)
    async with httpx.AsyncClient(base_url=base_url, limits=limits, headers=headers, timeout=30) as client:
        deadline = time.perf_counter() + seconds

        async def worker(mine: list[str]) -> None:
            n = 0
            while time.perf_counter() < deadline:
                project = mine[n % len(mine)]
                n += 1
                t0 = time.perf_counter()
                r = await client.post(
                    f"/v1/projects/{project}/progress-reports",
                    json=REPORT,
                    headers={"If-Match": str(versions[project])},
                )
                if r.status_code != 201:
                    errors.append(f"{r.status_code} {r.text[:200]}")
                    continue
                latencies.append(time.perf_counter() - t0)
                versions[project] = r.json()["version"]

        start = time.perf_counter()
        await asyncio.gather(*(worker(ids[i::concurrency]) for i in range(concurrency)))
        elapsed = time.perf_counter() - start
    q = statistics.quantiles(latencies, n=100) if len(latencies) > 1 else [0.0] * 99
    return {
        "count": len(latencies),
        "errors": len(errors),
        "first_errors": errors[:3],
        "elapsed_s": elapsed,
        "per_s": len(latencies) / elapsed,
        "p50_ms": q[49] * 1000,
        "p99_ms": q[98] * 1000,
        "versions": versions,
    }


if __name__ == "__main__":
    job = json.load(sys.stdin)
    result = asyncio.run(run(job["base_url"], job["token"], job["projects"], job["concurrency"], job["seconds"]))
    print(json.dumps(result))
