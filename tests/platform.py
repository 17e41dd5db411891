"""Helpers to run services in-process against the real servers, and to act as their clients."""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import httpx
from fastapi import FastAPI

from services.intake.cli import bootstrap_organisation
from shared.envelope import Actor, Role
from shared.eventstore import Context, EventStore
from shared.runtime import Runtime
from shared.settings import Settings

SYSTEM_CTX = Context(actor=Actor(org_id="platform", role=Role.SYSTEM), correlation_id="tests")

ORGS = [
    ("admin", "系统管理", Role.ADMIN),
    ("hq", "指挥部办公室", Role.HQ),
    ("auditor", "审计", Role.AUDITOR),
    ("supervision", "督查室", Role.SUPERVISION),
    ("leader-a", "包保市领导甲", Role.LEADER),
    ("unit-a", "责任单位甲", Role.UNIT),
    ("unit-b", "责任单位乙", Role.UNIT),
]


async def wait_until(predicate: Callable[[], Awaitable[bool]], timeout: float = 10.0, what: str = "") -> None:
    """Wait on a fact, not a sleep: poll until `predicate` holds, failing after `timeout`."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not await predicate():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what or predicate}")
        await asyncio.sleep(0.02)


def replica(settings: Settings, name: str) -> Settings:
    return dataclasses.replace(settings, replica_id=name)


@asynccontextmanager
async def running(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://intake.test") as client:
            yield client


def runtime_of(app: FastAPI) -> Runtime:
    runtime: Runtime = app.state.runtime
    return runtime


async def bootstrap_orgs(store: EventStore) -> dict[str, str]:
    tokens = {}
    for org_id, name, role in ORGS:
        tokens[org_id] = await bootstrap_organisation(store, org_id, name, role, SYSTEM_CTX, demo=False, label="test")
    return tokens


def auth(token: str, **extra: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", **extra}


def project_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "programme_id": "prog",
        "name": "测试项目",
        "category": "industrial",
        "unit_id": "unit-a",
        "sponsor_leader_id": "leader-a",
        "location": "马村区",
        "construction_type": "new",
        "total_investment": "10000",
        "annual_planned_investment": "4000",
        "planned_start": "2024-03-01",
        "planned_completion": "2025-12-31",
    }
    body.update(overrides)
    return body


def new_key() -> str:
    return str(uuid.uuid4())


async def bootstrap_and_wait(runtime: Runtime) -> dict[str, str]:
    """Register the test organisations and wait until the service's read model knows their credentials."""
    tokens = await bootstrap_orgs(runtime.store)
    assert await runtime.runner.wait_for(await runtime.store.last_seq(), 10)
    return tokens
