"""audit in-process against the real servers, beside intake (whose events it indexes), on one simulated clock, with
the test organisations and a programme."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from services.audit.bootstrap import create_app as create_audit
from services.audit.timers import SEAL_TIMER
from services.intake.bootstrap import create_app as create_intake
from shared.clock import SimulatedClock
from shared.kv_records import read_record
from shared.names import timer_key
from shared.runtime import Runtime
from shared.settings import Settings
from tests.platform import auth, bootstrap_orgs, project_body, running, runtime_of, wait_until


@dataclass
class Audited:
    intake: httpx.AsyncClient
    audit: httpx.AsyncClient
    intake_rt: Runtime
    audit_rt: Runtime
    tokens: dict[str, str]
    clock: SimulatedClock
    settings: Settings

    def h(self, org: str, **extra: str) -> dict[str, str]:
        return auth(self.tokens[org], **extra)

    async def synced(self) -> None:
        """Until intake's read model and audit's index hold everything in the log so far."""
        last = await self.audit_rt.store.last_seq()
        for rt in (self.intake_rt, self.audit_rt):
            assert await rt.runner.wait_for(last, 15)

    async def timer_period_done(self) -> None:
        """Until the seal timer has run its period at the clock's time: a test's own writes after this are then
        sealed only by hq's on-demand seal, never raced by the timer's (which seals at start)."""
        kv = self.audit_rt.kv
        assert kv is not None
        key = timer_key(self.settings.stream, "audit", SEAL_TIMER)
        due = self.settings.schedule(SEAL_TIMER).due(self.clock.now()).label

        async def done() -> bool:
            record, _ = await read_record(kv, key)
            return record is not None and record.get("label") == due and record.get("expires_at") == 0.0

        await wait_until(done, timeout=20, what=f"the seal timer's period {due}")

    def audit_app(self, replica: str) -> FastAPI:
        """Another replica of audit on the same clock and schema."""
        return create_audit(dataclasses.replace(self.settings, replica_id=replica), clock=self.clock)

    async def project(self, **overrides: Any) -> dict[str, Any]:
        r = await self.intake.post("/v1/projects", json=project_body(**overrides), headers=self.h("hq"))
        assert r.status_code == 201, r.text
        await self.synced()
        written: dict[str, Any] = r.json()
        return written

    async def get(self, path: str, org: str = "hq", **params: Any) -> dict[str, Any]:
        """hq by default: an auditor's reads are themselves recorded in the log (docs/adr/0033), which would move
        the counts a test compares; test_roles_and_access.py reads as the auditor."""
        r = await self.audit.get(path, params=params, headers=self.h(org))
        assert r.status_code == 200, r.text
        answer: dict[str, Any] = r.json()
        return answer


@pytest.fixture
async def audited(settings: Settings) -> AsyncIterator[Audited]:
    clock = SimulatedClock()  # 2024-01-01 08:00 China time
    intake_app = create_intake(dataclasses.replace(settings, replica_id="intake-1"), clock=clock)
    audit_app = create_audit(dataclasses.replace(settings, replica_id="audit-1"), clock=clock)
    async with AsyncExitStack() as stack:
        intake = await stack.enter_async_context(running(intake_app))
        audit = await stack.enter_async_context(running(audit_app))
        a = Audited(intake, audit, runtime_of(intake_app), runtime_of(audit_app), {}, clock, settings)
        a.tokens = await bootstrap_orgs(a.intake_rt.store)
        await a.synced()
        r = await intake.post("/v1/programmes", json={"id": "prog", "name": "2024 三十工程", "year": 2024},
                              headers=a.h("hq"))  # fmt: skip
        assert r.status_code == 201, r.text
        await a.synced()
        await a.timer_period_done()
        yield a
