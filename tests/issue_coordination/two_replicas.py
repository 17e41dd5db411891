"""Two replicas of issue_coordination on the real servers sharing one moved clock (intake on the same clock,
docs/adr/0017), with the test organisations, a programme and a project: the timers' exactly-once tests make both
compete for each run."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from datetime import date

import httpx

from services.intake.bootstrap import create_app as create_intake
from services.issue_coordination.bootstrap import create_app as create_issue_coordination
from shared.clock import SimulatedClock
from shared.kv_records import read_record
from shared.names import timer_key
from shared.runtime import Runtime
from shared.settings import Settings
from tests.platform import auth, bootstrap_orgs, project_body, running, runtime_of, wait_until


@dataclasses.dataclass
class Two:
    a: httpx.AsyncClient
    rts: list[Runtime]
    tokens: dict[str, str]
    clock: SimulatedClock
    settings: Settings


@asynccontextmanager
async def two_replicas(settings: Settings) -> AsyncIterator[Two]:
    clock = SimulatedClock()  # 2024-01-01 08:00 China time
    fast = dataclasses.replace(settings, timer_poll_s=0.2)
    intake_app = create_intake(dataclasses.replace(fast, replica_id="intake-1"), clock=clock)
    apps = [create_issue_coordination(dataclasses.replace(fast, replica_id=f"issues-{n}"), clock=clock,
                                      escalate=True) for n in "ab"]  # fmt: skip
    async with AsyncExitStack() as stack:
        intake = await stack.enter_async_context(running(intake_app))
        clients = [await stack.enter_async_context(running(app)) for app in apps]
        tokens = await bootstrap_orgs(runtime_of(intake_app).store)
        last = await runtime_of(intake_app).store.last_seq()
        assert await runtime_of(intake_app).runner.wait_for(last, 10)
        r = await intake.post("/v1/programmes", json={"id": "prog", "name": "2024 三十工程", "year": 2024},
                              headers=auth(tokens["hq"]))  # fmt: skip
        assert r.status_code == 201, r.text
        assert await runtime_of(intake_app).runner.wait_for(r.json()["seq"], 10)
        r = await intake.post("/v1/projects", json=project_body(), headers=auth(tokens["hq"]))
        assert r.status_code == 201, r.text
        rts = [runtime_of(app) for app in apps]
        for rt in rts:
            assert await rt.runner.wait_for(r.json()["seq"], 10)
        yield Two(clients[0], rts, tokens, clock, fast)


async def run_timer_on(two: Two, timer: str, day: date, hour: int) -> None:
    """Move the shared clock to `hour` of `day` and wait until that day's run of `timer` is done (by either
    replica)."""
    two.clock.set_day(day, hour)
    for rt in two.rts:
        assert rt.timers is not None
        rt.timers.wake()
    kv = two.rts[0].kv
    assert kv is not None
    key = timer_key(two.settings.stream, "issue_coordination", timer)

    async def done() -> bool:
        record, _ = await read_record(kv, key)
        return record is not None and record.get("label") == day.isoformat() and record.get("expires_at") == 0.0

    await wait_until(done, timeout=20, what=f"the {timer} run of {day}")
