"""The issue platform without the escalation timer (levels are only the ones hq sets), optionally with scheduling's
light re-evaluation: for the figures and for lights that follow a project's issues."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager

from services.intake.bootstrap import create_app as create_intake
from services.intake.cli import bootstrap_organisation
from services.issue_coordination.bootstrap import create_app as create_issue_coordination
from services.scheduling.bootstrap import create_app as create_scheduling
from shared.clock import SimulatedClock
from shared.settings import Settings
from tests.issue_coordination.conftest import EXTRA_ORGS, Platform
from tests.platform import SYSTEM_CTX, bootstrap_orgs, running, runtime_of


@asynccontextmanager
async def quiet_platform_of(settings: Settings, *, react: bool = False) -> AsyncIterator[Platform]:
    clock = SimulatedClock()
    intake_app = create_intake(dataclasses.replace(settings, replica_id="intake-1"), clock=clock)
    scheduling_app = create_scheduling(
        dataclasses.replace(settings, replica_id="scheduling-1"), clock=clock, monitor=False, react=react
    )
    issues_app = create_issue_coordination(
        dataclasses.replace(settings, replica_id="issues-1"), clock=clock, escalate=False
    )
    async with AsyncExitStack() as stack:
        p = Platform(
            await stack.enter_async_context(running(intake_app)),
            await stack.enter_async_context(running(scheduling_app)),
            await stack.enter_async_context(running(issues_app)),
            runtime_of(intake_app), runtime_of(scheduling_app), runtime_of(issues_app), {}, clock,
        )  # fmt: skip
        p.tokens = await bootstrap_orgs(p.intake_rt.store)
        for org_id, name, role in EXTRA_ORGS:
            p.tokens[org_id] = await bootstrap_organisation(
                p.intake_rt.store, org_id, name, role, SYSTEM_CTX, demo=False, label="test"
            )
        await p.synced()  # intake knows the tokens before the programme is registered
        r = await p.intake.post("/v1/programmes", json={"id": "prog", "name": "2024 三十工程", "year": 2024},
                                headers=p.h("hq"))  # fmt: skip
        assert r.status_code == 201, r.text
        await p.synced()
        yield p
