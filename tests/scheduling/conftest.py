from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from services.intake.bootstrap import create_app as create_intake
from services.scheduling.bootstrap import create_app as create_scheduling
from shared.clock import SimulatedClock
from shared.runtime import Runtime
from shared.settings import Settings
from tests.platform import auth, bootstrap_orgs, project_body, running, runtime_of


@dataclass
class Platform:
    intake: httpx.AsyncClient
    scheduling: httpx.AsyncClient
    intake_rt: Runtime
    scheduling_rt: Runtime
    tokens: dict[str, str]
    clock: SimulatedClock

    async def synced(self) -> None:
        """Wait until scheduling has applied everything in the log so far."""
        last = await self.scheduling_rt.store.last_seq()
        assert await self.scheduling_rt.runner.wait_for(last, 10)
        assert await self.intake_rt.runner.wait_for(last, 10)

    async def project(self, **overrides: Any) -> str:
        r = await self.intake.post("/v1/projects", json=project_body(**overrides), headers=auth(self.tokens["hq"]))
        assert r.status_code == 201, r.text
        await self.synced()
        project_id: str = r.json()["id"]
        return project_id


@pytest.fixture
async def platform(settings: Settings) -> AsyncIterator[Platform]:
    clock = SimulatedClock()
    intake_app = create_intake(dataclasses.replace(settings, replica_id="intake-1"))
    scheduling_app = create_scheduling(
        dataclasses.replace(settings, replica_id="scheduling-1"), clock=clock, monitor=False
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
