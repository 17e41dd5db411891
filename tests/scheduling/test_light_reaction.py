"""scheduling's first reaction: a progress report, a phase change or a plan change re-evaluates the project's light
within seconds, with two replicas, a restart, and a replay of everything the reaction had already handled.

Real intake and scheduling applications on real NATS and PostgreSQL; the clock is the platform's (simulated) one.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from datetime import date
from typing import Any

import asyncpg
import httpx

from services.intake.bootstrap import create_app as create_intake
from services.scheduling.bootstrap import create_app as create_scheduling
from services.scheduling.reactions import LIGHT_REEVALUATION
from shared.clock import SimulatedClock
from shared.eventstore import StoredEvent
from shared.reactions import derived_event_id
from shared.runtime import Runtime
from shared.settings import Settings
from tests.platform import auth, bootstrap_orgs, project_body, running, runtime_of, wait_until
from tests.scheduling.test_plans import plan_body

TODAY = date(2024, 6, 30)
DONE = [{"milestone_id": "permit", "done_on": "2024-03-20"}, {"milestone_id": "start", "done_on": "2024-04-25"}]
REPORT = {"period_start": "2024-06-17", "period_end": "2024-06-23", "investment_this_period": "440",
          "image_progress_pct": "40", "milestones_done": DONE}  # fmt: skip


@dataclass
class Node:
    client: httpx.AsyncClient
    rt: Runtime


@asynccontextmanager
async def node(app: Any) -> AsyncIterator[Node]:
    async with running(app) as client:
        yield Node(client, runtime_of(app))


def scheduling(settings: Settings, name: str, clock: SimulatedClock) -> Any:
    return create_scheduling(dataclasses.replace(settings, replica_id=name), clock=clock, monitor=False)


class Project:
    def __init__(self, pid: str, hq: dict[str, str]) -> None:
        self.pid, self.hq = pid, hq

    async def light(self, s: Node) -> dict[str, Any]:
        r = await s.client.get(f"/v1/projects/{self.pid}/light", headers=self.hq)
        assert r.status_code == 200, r.text
        body: dict[str, Any] = r.json()
        return body

    async def follows(self, source_seq: int, s: Node) -> dict[str, Any]:
        """Within seconds the reaction has handled the event and the light on record is today's evaluation."""
        await wait_until(lambda: s.rt.reactions[0].wait_for(source_seq, 0.1), 10, f"the reaction to seq {source_seq}")

        async def relit() -> bool:
            # Every dimension, not only the overall colour: the light on record before the event may already have
            # the same overall colour, and the light the reaction recorded may not be projected yet.
            current = await self.light(s)
            what_if = (await s.client.get(f"/v1/projects/{self.pid}/light/what-if", headers=self.hq)).json()
            return current.get("as_of") == TODAY.isoformat() and _colours(current) == _colours(what_if)

        await wait_until(relit, 10, "the light to follow the event")
        return await self.light(s)


def _colours(light: dict[str, Any]) -> dict[str, Any]:
    """The overall colour and each dimension's."""
    dimensions = {k: v["colour"] for k, v in light.items() if isinstance(v, dict) and "colour" in v}
    return {"colour": light.get("colour"), **dimensions}


async def completions(rt: Runtime, plan_id: str, count: int) -> list[StoredEvent]:
    """The plan's MilestoneCompleted events, once there are `count` of them."""

    async def found() -> bool:
        return len(await _completed(rt, plan_id)) >= count

    await wait_until(found, 10, f"{count} milestones completed in {plan_id}")
    return await _completed(rt, plan_id)


async def _completed(rt: Runtime, plan_id: str) -> list[StoredEvent]:
    return [e for e in await rt.store.read_aggregate("plan", plan_id) if e.envelope.type == "MilestoneCompleted"]


async def light_events(rt: Runtime, project_id: str) -> list[StoredEvent]:
    return await rt.store.read_aggregate("light", project_id)


async def test_progress_phase_and_plan_changes_relight_the_project_once_each(settings: Settings) -> None:
    clock = SimulatedClock()
    clock.set_day(TODAY)
    async with AsyncExitStack() as stack:
        # One clock for both services (docs/adr/0017): it stamps every event's recorded_at.
        intake_app = create_intake(dataclasses.replace(settings, replica_id="i"), clock=clock)
        intake = await stack.enter_async_context(node(intake_app))
        a = await stack.enter_async_context(node(scheduling(settings, "scheduling-a", clock)))
        b_running = AsyncExitStack()
        stack.push_async_callback(b_running.aclose)  # on failure too (closing twice is a no-op)
        b = await b_running.enter_async_context(node(scheduling(settings, "scheduling-b", clock)))
        tokens = await bootstrap_orgs(intake.rt.store)
        assert await intake.rt.runner.wait_for(await intake.rt.store.last_seq(), 10)
        hq, unit = auth(tokens["hq"]), auth(tokens["unit-a"])
        r = await intake.client.post("/v1/programmes", json={"id": "prog", "name": "计划", "year": 2024}, headers=hq)
        assert r.status_code == 201, r.text
        assert await a.rt.settled(30)  # generous: the two replicas share partitions by lease
        r = await intake.client.post("/v1/projects", json=project_body(planned_start="2024-01-01"), headers=hq)
        assert r.status_code == 201, r.text
        project = Project(r.json()["id"], hq)
        assert await a.rt.settled(30)  # generous: the two replicas share partitions by lease

        r = await a.client.post("/v1/plans", json=plan_body(project.pid), headers=unit)
        assert r.status_code == 201, r.text
        assert (await project.follows(r.json()["seq"], a))["colour"] == "red"  # half a year planned, nothing done

        r = await intake.client.post(
            f"/v1/projects/{project.pid}/phase", json={"phase": "under_construction", "reason": "开工"}, headers=hq
        )
        assert r.status_code == 200, r.text
        await project.follows(r.json()["seq"], b)

        # Planned 600 by 30 June, 440 done, permits and start on record: yellow (13.3 points behind).
        r = await intake.client.post(f"/v1/projects/{project.pid}/progress-reports", json=REPORT, headers=unit)
        assert r.status_code == 201, r.text
        report = await intake.rt.store.get(r.json()["seq"])
        # The milestones it names become the plan's own completions (reaction milestone_completion), which relight
        # the project too: every light they cause carries the id derived from its cause.
        completed = await completions(a.rt, f"{project.pid}-y2024", 2)
        assert {e.envelope.causation_id for e in completed} == {str(report.envelope.id)}
        assert (await project.follows(completed[-1].seq, a))["colour"] == "yellow"
        causes = {report.envelope.id, *(e.envelope.id for e in completed)}
        lights = await light_events(a.rt, project.pid)
        caused = [e for e in lights if uuid.UUID(e.envelope.causation_id or "") in causes]
        assert caused and all(
            e.envelope.id == derived_event_id(uuid.UUID(e.envelope.causation_id or ""), LIGHT_REEVALUATION)
            for e in caused
        )
        assert caused[0].envelope.correlation_id == report.envelope.correlation_id

        # Replica b stops: a alone carries on.
        await b_running.aclose()
        rest = {**REPORT, "period_start": "2024-06-24", "period_end": "2024-06-30", "investment_this_period": "160",
                "milestones_done": []}  # fmt: skip
        r = await intake.client.post(f"/v1/projects/{project.pid}/progress-reports", json=rest, headers=unit)
        assert r.status_code == 201, r.text
        # On plan now (600 of 600): the investment turns green; filed on Sunday for a week due on Friday 17:00, the
        # report is late (逾期补报), which the default rules colour yellow: the light is recorded with new reasons.
        relit = await project.follows(r.json()["seq"], a)
        assert relit["investment"]["colour"] == "green" and relit["reporting"]["colour"] == "yellow", relit
        assert relit["colour"] == "yellow" and "逾期补报" in relit["reporting"]["reasons"][0]

    # Everything restarts: a new replica takes over from the checkpoints.
    async with AsyncExitStack() as stack:
        intake_app = create_intake(dataclasses.replace(settings, replica_id="i2"), clock=clock)
        intake = await stack.enter_async_context(node(intake_app))
        c = await stack.enter_async_context(node(scheduling(settings, "scheduling-c", clock)))
        r = await intake.client.post(
            f"/v1/projects/{project.pid}/phase", json={"phase": "suspended", "reason": "停工待审"}, headers=hq
        )
        assert r.status_code == 200, r.text
        await project.follows(r.json()["seq"], c)
        assert await c.rt.settled(10)
        recorded = await light_events(c.rt, project.pid)
        causes = [uuid.UUID(e.envelope.causation_id or "") for e in recorded]
        assert len(recorded) >= 3 and len(set(causes)) == len(causes)  # each change caused by one event, once
        assert [e.envelope.id for e in recorded] == [derived_event_id(x, LIGHT_REEVALUATION) for x in causes]

    # A replay of everything the reaction had handled (as after a crash before its commits: checkpoints and chain
    # heads are committed together) appends nothing.
    conn = await asyncpg.connect(settings.database_url)
    try:
        await conn.execute("UPDATE scheduling._checkpoint SET last_seq = 0 WHERE grp = $1", LIGHT_REEVALUATION)
        await conn.execute("DELETE FROM scheduling._chain WHERE grp = $1", LIGHT_REEVALUATION)
    finally:
        await conn.close()
    async with node(scheduling(settings, "scheduling-d", clock)) as d:
        assert await d.rt.settled(20)
        assert d.rt.reactions[0].stats.applied > 0  # it did handle the whole log again
        assert [e.envelope.id for e in await light_events(d.rt, project.pid)] == [e.envelope.id for e in recorded]
        assert await d.rt.parked() == 0
