"""intake and scheduling as real uvicorn servers on free ports, on the suite's real NATS and PostgreSQL."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import uvicorn
from fastapi import FastAPI

from services.intake.bootstrap import create_app as create_intake
from services.scheduling.bootstrap import create_app as create_scheduling
from shared.devstack.embedded import free_port
from shared.runtime import Runtime
from shared.settings import Settings
from tests.platform import bootstrap_orgs, runtime_of


@dataclass
class LiveService:
    name: str
    url: str
    runtime: Runtime


@dataclass
class LivePlatform:
    services: dict[str, LiveService]
    tokens: dict[str, str]


@asynccontextmanager
async def serving(name: str, app: FastAPI) -> AsyncIterator[LiveService]:
    """uvicorn in this event loop (so the test can await a client process meanwhile), lifespan included."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on"))
    task = asyncio.create_task(server.serve())
    try:
        while not server.started:
            if task.done():
                task.result()  # raises the start-up error
                raise AssertionError(f"{name} stopped before it started")
            await asyncio.sleep(0.02)
        yield LiveService(name, f"http://127.0.0.1:{port}", runtime_of(app))
    finally:
        server.should_exit = True
        await task


@asynccontextmanager
async def live_platform(settings: Settings) -> AsyncIterator[LivePlatform]:
    intake_app = create_intake(dataclasses.replace(settings, replica_id="intake-live"))
    scheduling_app = create_scheduling(dataclasses.replace(settings, replica_id="scheduling-live"), monitor=False)
    async with serving("intake", intake_app) as intake, serving("scheduling", scheduling_app) as scheduling:
        tokens = await bootstrap_orgs(intake.runtime.store)
        last = await intake.runtime.store.last_seq()
        for service in (intake, scheduling):  # both know the credentials before the first request
            assert await service.runtime.runner.wait_for(last, 10), f"{service.name} did not catch up"
        yield LivePlatform({"intake": intake, "scheduling": scheduling}, tokens)
