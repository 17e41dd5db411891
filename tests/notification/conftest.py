"""intake, scheduling, issue_coordination and notification in-process against the real servers, on one simulated
clock, with the test organisations, a programme and the helpers the notification tests share."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from services.intake.bootstrap import create_app as create_intake
from services.intake.cli import bootstrap_organisation
from services.issue_coordination.bootstrap import create_app as create_issue_coordination
from services.notification.bootstrap import create_app as create_notification
from services.scheduling.bootstrap import create_app as create_scheduling
from shared.clock import SimulatedClock
from shared.envelope import Role
from shared.runtime import Runtime
from shared.settings import Settings
from tests.platform import SYSTEM_CTX, auth, bootstrap_orgs, project_body, running, runtime_of

EXTRA_ORGS = [("unit-c", "责任单位丙", Role.UNIT)]
DEADLINE = "2024-01-20T18:00:00+08:00"


@dataclass
class Platform:
    intake: httpx.AsyncClient
    issues: httpx.AsyncClient
    notification: httpx.AsyncClient
    intake_rt: Runtime
    scheduling_rt: Runtime
    issues_rt: Runtime
    notification_rt: Runtime
    tokens: dict[str, str]
    clock: SimulatedClock
    settings: Settings

    async def synced(self) -> None:
        """Until every service has applied (and reacted to) everything in the log so far."""
        assert await self.issues_rt.settled(10)
        assert await self.notification_rt.settled(10)
        last = await self.notification_rt.store.last_seq()
        for rt in (self.intake_rt, self.scheduling_rt, self.issues_rt, self.notification_rt):
            assert await rt.runner.wait_for(last, 10)

    def h(self, org: str, **extra: str) -> dict[str, str]:
        return auth(self.tokens[org], **extra)

    def notification_app(self, replica: str) -> FastAPI:
        """Another replica of notification on the same clock (same schema: it shares the consumers' work)."""
        return create_notification(dataclasses.replace(self.settings, replica_id=replica), clock=self.clock)

    async def project(self, **overrides: Any) -> str:
        r = await self.intake.post("/v1/projects", json=project_body(**overrides), headers=self.h("hq"))
        assert r.status_code == 201, r.text
        await self.synced()
        project_id: str = r.json()["id"]
        return project_id

    async def raise_issue(self, project_id: str, org: str = "unit-a") -> str:
        body = {"project_id": project_id, "category": "land", "description": "用地指标未落实",
                "help_requested": "协调调剂用地指标"}  # fmt: skip
        r = await self.issues.post("/v1/issues", json=body, headers=self.h(org))
        assert r.status_code == 201, r.text
        issue_id: str = r.json()["id"]
        return issue_id

    async def act(self, issue_id: str, action: str, org: str, body: dict[str, Any]) -> dict[str, Any]:
        r = await self.issues.post(f"/v1/issues/{issue_id}/{action}", json=body, headers=self.h(org))
        assert r.status_code == 200, (action, org, r.text)
        answer: dict[str, Any] = r.json()
        return answer

    async def inbox(self, org: str, **params: Any) -> dict[str, Any]:
        r = await self.notification.get("/v1/inbox", params=params, headers=self.h(org))
        assert r.status_code == 200, r.text
        page: dict[str, Any] = r.json()
        return page


@pytest.fixture
async def platform(settings: Settings) -> AsyncIterator[Platform]:
    async with platform_of(settings, escalate=False) as p:
        yield p


@asynccontextmanager
async def platform_of(settings: Settings, *, escalate: bool) -> AsyncIterator[Platform]:
    """intake, scheduling (no monitoring, no reactions), issue_coordination (its timers when `escalate`) and
    notification on one SimulatedClock, with the test organisations and a programme."""
    clock = SimulatedClock()  # 2024-01-01 08:00 China time
    intake_app = create_intake(dataclasses.replace(settings, replica_id="intake-1"), clock=clock)
    scheduling_app = create_scheduling(
        dataclasses.replace(settings, replica_id="scheduling-1"), clock=clock, monitor=False, react=False
    )
    issues_app = create_issue_coordination(
        dataclasses.replace(settings, replica_id="issues-1"), clock=clock, escalate=escalate
    )
    notification_app = create_notification(dataclasses.replace(settings, replica_id="notification-1"), clock=clock)
    async with AsyncExitStack() as stack:
        intake = await stack.enter_async_context(running(intake_app))
        await stack.enter_async_context(running(scheduling_app))
        issues = await stack.enter_async_context(running(issues_app))
        notification = await stack.enter_async_context(running(notification_app))
        p = Platform(intake, issues, notification, runtime_of(intake_app), runtime_of(scheduling_app),
                     runtime_of(issues_app), runtime_of(notification_app), {}, clock, settings)  # fmt: skip
        p.tokens = await bootstrap_orgs(p.intake_rt.store)
        for org_id, name, role in EXTRA_ORGS:
            p.tokens[org_id] = await bootstrap_organisation(
                p.intake_rt.store, org_id, name, role, SYSTEM_CTX, demo=False, label="test"
            )
        await p.synced()
        r = await intake.post("/v1/programmes", json={"id": "prog", "name": "2024 三十工程", "year": 2024},
                              headers=p.h("hq"))  # fmt: skip
        assert r.status_code == 201, r.text
        await p.synced()
        yield p
