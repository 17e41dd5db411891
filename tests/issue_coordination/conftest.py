"""intake, scheduling and issue_coordination in-process against the real servers, with the test organisations, a
programme and the helpers the issue tests share."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from services.intake.bootstrap import create_app as create_intake
from services.intake.cli import bootstrap_organisation
from services.issue_coordination.bootstrap import create_app as create_issue_coordination
from services.scheduling.bootstrap import create_app as create_scheduling
from shared.clock import SimulatedClock
from shared.envelope import Role
from shared.runtime import Runtime
from shared.settings import Settings
from tests.platform import SYSTEM_CTX, auth, bootstrap_orgs, project_body, running, runtime_of

# Beside tests/platform.ORGS: a second leader, and units enough for co-handlers and an unrelated unit.
EXTRA_ORGS = [("leader-b", "包保市领导乙", Role.LEADER), ("unit-c", "责任单位丙", Role.UNIT),
              ("unit-d", "责任单位丁", Role.UNIT)]  # fmt: skip
# The suite's clock starts on 2024-01-01 (SimulatedClock); deadlines are after it.
DEADLINE = "2024-01-20T18:00:00+08:00"


@dataclass
class Platform:
    intake: httpx.AsyncClient
    scheduling: httpx.AsyncClient
    issues: httpx.AsyncClient
    intake_rt: Runtime
    scheduling_rt: Runtime
    issues_rt: Runtime
    tokens: dict[str, str]
    clock: SimulatedClock

    async def synced(self) -> None:
        """Wait until issue_coordination has applied and reacted to everything in the log so far (its reaction
        appends events of its own), and the other services have applied it too."""
        assert await self.issues_rt.settled(10)
        last = await self.issues_rt.store.last_seq()
        assert await self.intake_rt.runner.wait_for(last, 10)
        assert await self.scheduling_rt.runner.wait_for(last, 10)

    def h(self, org: str, **extra: str) -> dict[str, str]:
        return auth(self.tokens[org], **extra)

    async def project(self, **overrides: Any) -> str:
        r = await self.intake.post("/v1/projects", json=project_body(**overrides), headers=self.h("hq"))
        assert r.status_code == 201, r.text
        await self.synced()
        project_id: str = r.json()["id"]
        return project_id

    async def raise_issue(self, project_id: str, org: str = "unit-a", **overrides: Any) -> str:
        body = {"project_id": project_id, "category": "land", "description": "用地指标未落实",
                "help_requested": "协调调剂用地指标", **overrides}  # fmt: skip
        r = await self.issues.post("/v1/issues", json=body, headers=self.h(org))
        assert r.status_code == 201, r.text
        issue_id: str = r.json()["id"]
        return issue_id

    async def act(self, issue_id: str, action: str, org: str, body: dict[str, Any] | None = None,
                  expect: int = 200) -> dict[str, Any]:  # fmt: skip
        r = await self.issues.post(f"/v1/issues/{issue_id}/{action}", json=body or {}, headers=self.h(org))
        assert r.status_code == expect, (action, org, r.text)
        answer: dict[str, Any] = r.json()
        return answer

    async def issue(self, issue_id: str, org: str = "hq", min_seq: int = 0) -> dict[str, Any]:
        r = await self.issues.get(f"/v1/issues/{issue_id}", params={"min_seq": min_seq}, headers=self.h(org))
        assert r.status_code == 200, r.text
        found: dict[str, Any] = r.json()
        return found


@pytest.fixture
async def platform(settings: Settings, request: pytest.FixtureRequest) -> AsyncIterator[Platform]:
    # A test module that counts every event it causes sets ISSUE_TIMERS = False: no timer then adds its own.
    timers = getattr(request.module, "ISSUE_TIMERS", True)
    clock = SimulatedClock()
    intake_app = create_intake(dataclasses.replace(settings, replica_id="intake-1"), clock=clock)
    scheduling_app = create_scheduling(
        dataclasses.replace(settings, replica_id="scheduling-1"), clock=clock, monitor=False, react=False
    )
    issues_app = create_issue_coordination(
        dataclasses.replace(settings, replica_id="issues-1"), clock=clock, escalate=timers
    )
    async with AsyncExitStack() as stack:
        intake = await stack.enter_async_context(running(intake_app))
        scheduling = await stack.enter_async_context(running(scheduling_app))
        issues = await stack.enter_async_context(running(issues_app))
        p = Platform(intake, scheduling, issues, runtime_of(intake_app), runtime_of(scheduling_app),
                     runtime_of(issues_app), {}, clock)  # fmt: skip
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
