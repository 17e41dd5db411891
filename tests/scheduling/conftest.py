from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from datetime import date
from typing import Any

import httpx
import pytest

from services.intake.bootstrap import create_app as create_intake
from services.scheduling.bootstrap import create_app as create_scheduling
from services.scheduling.monitoring import RunResult, run_monitoring
from shared.clock import SimulatedClock, today
from shared.envelope import Actor, Role
from shared.eventstore import Context
from shared.runtime import Runtime
from shared.settings import Settings
from tests.platform import auth, bootstrap_orgs, project_body, running, runtime_of

MONITOR_CTX = Context(actor=Actor(org_id="platform", role=Role.SYSTEM, user="test"), correlation_id="test-monitoring")


@dataclass
class Platform:
    intake: httpx.AsyncClient
    scheduling: httpx.AsyncClient
    intake_rt: Runtime
    scheduling_rt: Runtime
    tokens: dict[str, str]
    clock: SimulatedClock

    async def synced(self) -> None:
        """Wait until scheduling has applied and reacted to everything in the log so far (its light re-evaluation
        appends events of its own), and intake has applied it too."""
        assert await self.scheduling_rt.settled(10)
        assert await self.intake_rt.runner.wait_for(await self.scheduling_rt.store.last_seq(), 10)

    async def monitor(self, day: date, rt: Runtime | None = None) -> RunResult:
        """Run the daily monitoring for `day`, the platform clock first moved to that day if it is behind."""
        if today(self.clock) < day:
            self.clock.set_day(day)
        return await run_monitoring(rt or self.scheduling_rt, day, MONITOR_CTX)

    async def project(self, **overrides: Any) -> str:
        r = await self.intake.post("/v1/projects", json=project_body(**overrides), headers=auth(self.tokens["hq"]))
        assert r.status_code == 201, r.text
        await self.synced()
        project_id: str = r.json()["id"]
        return project_id


@asynccontextmanager
async def scheduling_platform(settings: Settings) -> AsyncIterator[Platform]:
    """intake and scheduling (no monitoring, no reactions) on one SimulatedClock, with the test organisations and a
    programme."""
    clock = SimulatedClock()
    # One clock for both services, as in a deployment: it stamps every event's recorded_at (docs/adr/0017).
    intake_app = create_intake(dataclasses.replace(settings, replica_id="intake-1"), clock=clock)
    scheduling_app = create_scheduling(
        dataclasses.replace(settings, replica_id="scheduling-1"), clock=clock, monitor=False, react=False
    )
    async with AsyncExitStack() as stack:
        intake = await stack.enter_async_context(running(intake_app))
        scheduling = await stack.enter_async_context(running(scheduling_app))
        p = Platform(intake, scheduling, runtime_of(intake_app), runtime_of(scheduling_app), {}, clock)
        p.tokens = await bootstrap_orgs(p.intake_rt.store)
        await p.synced()
        r = await intake.post("/v1/programmes", json={"id": "prog", "name": "2024 三十工程", "year": 2024},
                              headers=auth(p.tokens["hq"]))  # fmt: skip
        assert r.status_code == 201, r.text
        await p.synced()
        yield p


@pytest.fixture
async def platform(settings: Settings) -> AsyncIterator[Platform]:
    async with scheduling_platform(settings) as p:
        yield p


@pytest.fixture(scope="module")
async def module_platform(module_settings: Settings) -> AsyncIterator[Platform]:
    """One platform for a module's tests that each work on projects of their own and move no clock
    (conftest.module_settings)."""
    async with scheduling_platform(module_settings) as p:
        yield p
