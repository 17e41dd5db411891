from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import httpx
import pytest

from services.intake.bootstrap import create_app
from shared.runtime import Runtime
from shared.settings import Settings
from tests.platform import auth, bootstrap_orgs, running, runtime_of


@dataclass
class Intake:
    client: httpx.AsyncClient
    runtime: Runtime
    tokens: dict[str, str]

    async def create_programme(self) -> int:
        r = await self.client.post(
            "/v1/programmes",
            json={"id": "prog", "name": "2024 三十工程", "year": 2024},
            headers=auth(self.tokens["hq"]),
        )
        assert r.status_code == 201, r.text
        seq: int = r.json()["seq"]
        return seq


@asynccontextmanager
async def intake_platform(settings: Settings) -> AsyncIterator[Intake]:
    """intake in-process with the test organisations and a programme, their events applied."""
    app = create_app(settings)
    async with running(app) as client:
        runtime = runtime_of(app)
        tokens = await bootstrap_orgs(runtime.store)
        assert await runtime.runner.wait_for(await runtime.store.last_seq(), 10)
        platform = Intake(client, runtime, tokens)
        seq = await platform.create_programme()
        assert await runtime.runner.wait_for(seq, 10)
        yield platform


@pytest.fixture
async def intake(settings: Settings) -> AsyncIterator[Intake]:
    async with intake_platform(settings) as platform:
        yield platform


@pytest.fixture(scope="module")
async def module_intake(module_settings: Settings) -> AsyncIterator[Intake]:
    """One intake for a module's tests that write nothing (conftest.module_settings)."""
    async with intake_platform(module_settings) as platform:
        yield platform
