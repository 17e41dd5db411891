"""The as-of round of `make bench` (docs/adr/0031): one project as of a random record moment, over HTTP.

Each sample picks a random generated project and a random moment between its first and last recorded event (read
from the log beforehand, outside the clock), then times `GET /v1/projects/{id}?as_of=<moment>` against intake's
real API process: the live row for the policy check, the project's subject read up to the moment, the fold, the
answer. Requests go one at a time (a latency figure, not a load); every answer must be 200 with the historical
header and a version between 1 and the project's last, or the sample counts as an error.

Alone, at a reduced size: `BENCH_EVENTS=100000 python -m tests.benchmarks.as_of_round` starts fresh servers and
intake, generates the history, waits for intake to catch up and prints the figures as JSON (writes no results file).
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from nats.js import api as js_api

from shared.envelope import parse_envelope
from shared.eventstore import EventStore
from shared.runtime import connect_nats
from shared.time_travel import AS_OF_HEADER
from tests.benchmarks import generator

SAMPLES = int(os.environ.get("BENCH_AS_OF_SAMPLES", 400))
WARM_UP = 20


async def project_span(store: EventStore, project_id: str) -> tuple[datetime, datetime, int]:
    """When the project's first and last events were recorded, and its last version."""
    subject = store.stored_filter("project", project_id)
    first = await store.js.get_msg(store.stream, seq=1, subject=subject, next=True, direct=True)
    last = await store.js.get_last_msg(store.stream, subject)
    assert first.data is not None and last.data is not None
    head, tail = parse_envelope(first.data), parse_envelope(last.data)
    return head.recorded_at, tail.recorded_at, tail.version


async def as_of_round(
    api_url: str,
    token: str,
    store: EventStore,
    projects: int,
    *,
    samples: int = SAMPLES,
    seed: int = 7,
    cpu: Callable[[], dict[str, float]] | None = None,
) -> dict[str, Any]:
    """p50/p99 of `samples` as-of reads of random generated projects (ids gen-000000 .. gen-<projects - 1>), and,
    given `cpu` (CPU seconds so far of each process), the CPU per read of each: a figure the machine's load hardly
    moves, beside latencies that it does."""
    rng = random.Random(seed)
    picks: list[tuple[str, datetime, int]] = []
    for _ in range(samples + WARM_UP):
        project_id = f"gen-{rng.randrange(projects):06d}"
        start, end, last_version = await project_span(store, project_id)
        moment = start + timedelta(seconds=rng.random() * (end - start).total_seconds())
        picks.append((project_id, moment, last_version))
    latencies: list[float] = []
    errors: list[str] = []
    headers = {"Authorization": f"Bearer {token}"}
    cpu_before: dict[str, float] = {}
    async with httpx.AsyncClient(base_url=api_url, headers=headers, timeout=30) as client:
        for i, (project_id, moment, last_version) in enumerate(picks):
            if i == WARM_UP and cpu is not None:
                cpu_before = cpu()
            t0 = time.perf_counter()
            r = await client.get(f"/v1/projects/{project_id}", params={"as_of": moment.isoformat()})
            elapsed = (time.perf_counter() - t0) * 1000
            ok = r.status_code == 200 and AS_OF_HEADER.lower() in r.headers
            if ok and not 1 <= int(r.json()["version"]) <= last_version:
                ok = False
            if not ok:
                errors.append(f"{project_id}@{moment.isoformat()}: {r.status_code} {r.text[:200]}")
            elif i >= WARM_UP:
                latencies.append(elapsed)
    cpu_ms = {}
    if cpu is not None:
        after = cpu()
        cpu_ms = {name: round((after[name] - cpu_before.get(name, 0.0)) * 1000 / max(len(latencies), 1), 2)
                  for name in after}  # fmt: skip
    q = statistics.quantiles(latencies, n=100, method="inclusive") if len(latencies) > 1 else [0.0] * 99
    return {
        "cpu_ms_per_read": cpu_ms,
        "samples": len(latencies), "errors": len(errors), "first_errors": errors[:3],
        "p50_ms": round(q[49], 2), "p99_ms": round(q[98], 2), "max_ms": round(max(latencies, default=0.0), 2),
        "projects": projects,
    }  # fmt: skip


async def _alone() -> dict[str, Any]:
    """The round on its own: fresh servers, intake, BENCH_EVENTS events of generated history."""
    from tests.benchmarks.platform import Platform
    from tests.benchmarks.processes import Service
    from tests.benchmarks.run import Bench, Config, say
    from tests.benchmarks.servers import bench_servers

    config = Config()
    async with bench_servers() as servers:
        platform = Platform(servers, Path(tempfile.mkdtemp(prefix="tiaodu-asof-logs-")), config.api_workers, 1)
        bench = Bench(config, servers, platform)

        def services() -> list[Service]:
            return list(platform.services.values())

        s = servers.settings
        nc = await connect_nats(s, "bench")
        try:
            store = EventStore(nc.jetstream(), stream=s.stream, prefix=s.subject_prefix, partitions=s.partitions)
            await asyncio.to_thread(platform.bootstrap_demo)
            await asyncio.to_thread(platform.start_intake)
            await platform.register_projects(1)
            await generator.register_programmes(store)
            say(f"generating {config.events} events")
            next_project, generated = await asyncio.to_thread(bench.generate, config.events, 0)
            last = await store.last_seq()
            say(f"generated {generated['events']} events ({next_project} projects); log at {last}")
            catchup = await platform.caught_up(last, config.catchup_timeout)
            say(f"intake caught up in {catchup:.0f} s")
            result = await as_of_round(
                platform.api_url, platform.tokens["hq"], store, next_project, cpu=lambda: bench.cpu(services())
            )
            loadavg = (await asyncio.to_thread(Path("/proc/loadavg").read_text)).split()[:3]
            info = _stream_size(await store.js.stream_info(s.stream))
            return result | {"log_events": last, "stream_info": info, "loadavg_after": loadavg}
        finally:
            await nc.close()
            platform.stop_all()


def _stream_size(info: js_api.StreamInfo) -> dict[str, int]:
    return {"messages": int(info.state.messages), "bytes": int(info.state.bytes)}


if __name__ == "__main__":
    print(json.dumps(asyncio.run(_alone()), ensure_ascii=False))
