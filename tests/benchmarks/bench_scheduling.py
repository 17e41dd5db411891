"""Benchmark the daily monitoring on real servers (not part of the suite): `make bench`.

30 projects with baselined plans; the monitoring runs for 60 consecutive days; what-if latency for one project.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from contextlib import AsyncExitStack
from datetime import date, timedelta

from services.intake.bootstrap import create_app as create_intake
from services.scheduling.bootstrap import create_app as create_scheduling
from services.scheduling.monitoring import run_monitoring
from services.scheduling.seed import plan_for
from shared.clock import SimulatedClock
from shared.envelope import Actor, Role
from shared.eventstore import Context
from tests.benchmarks.servers import bench_settings
from tests.platform import auth, bootstrap_and_wait, project_body, running, runtime_of

CTX = Context(actor=Actor(org_id="platform", role=Role.SYSTEM), correlation_id="bench")


async def main(projects: int = 30, days: int = 60) -> None:
    async with bench_settings() as settings:
        async with AsyncExitStack() as stack:
            intake_app = create_intake(settings)
            clock = SimulatedClock()
            # Monitoring alone is measured: no timer, no light re-evaluation reaction running beside it.
            scheduling_app = create_scheduling(settings, clock=clock, monitor=False, react=False)
            intake = await stack.enter_async_context(running(intake_app))
            scheduling = await stack.enter_async_context(running(scheduling_app))
            rt = runtime_of(scheduling_app)
            tokens = await bootstrap_and_wait(runtime_of(intake_app))
            hq = auth(tokens["hq"])
            r = await intake.post("/v1/programmes", json={"id": "prog", "name": "计划", "year": 2024}, headers=hq)
            await intake.get("/v1/programmes/prog", params={"min_seq": r.json()["seq"]}, headers=hq)
            ids = []
            for i in range(projects):
                r = await intake.post("/v1/projects", json=project_body(name=f"项目{i}"), headers=hq)
                ids.append(r.json()["id"])
            assert await rt.runner.wait_for(await rt.store.last_seq(), 20)
            for i, pid in enumerate(ids):
                body = plan_for({"id": pid, "annual_planned_investment": "4000", "planned_start": "2024-03-01",
                                 "unit_id": "unit-a"}, i)  # fmt: skip
                r = await scheduling.post("/v1/plans", json=body, headers=hq)
                assert r.status_code == 201, r.text
            assert await rt.runner.wait_for(await rt.store.last_seq(), 20)
            timings = []
            for d in range(days):
                day = date(2024, 3, 1) + timedelta(days=d)
                clock.set_day(day)  # monitoring never runs for a day after the platform's today
                t0 = time.perf_counter()
                await run_monitoring(rt, day, CTX)
                timings.append(time.perf_counter() - t0)
            events = await rt.store.last_seq()
            print(f"daily monitoring, {projects} projects: median {statistics.median(timings) * 1000:.0f} ms/day, "
                  f"max {max(timings) * 1000:.0f} ms ({days} days, log now {events} events)")  # fmt: skip
            lat = []
            for _ in range(50):
                t0 = time.perf_counter()
                r = await scheduling.get(
                    f"/v1/projects/{ids[0]}/light/what-if", params={"as_of": "2024-06-30"}, headers=hq
                )
                assert r.status_code == 200
                lat.append(time.perf_counter() - t0)
            print(f"what-if light: median {statistics.median(lat) * 1000:.1f} ms")


if __name__ == "__main__":
    asyncio.run(main())
