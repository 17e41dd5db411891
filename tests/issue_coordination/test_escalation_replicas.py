"""Exactly-once escalation with two replicas, each a real `python -m services.issue_coordination` process on the
suite's NATS and PostgreSQL: the one running the day's escalation is SIGKILLed mid-run, the other takes the timer
over and finishes it, the killed one restarts, and every issue climbs each step exactly once."""

from __future__ import annotations

import dataclasses
import os
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import AsyncExitStack, contextmanager
from datetime import timedelta
from pathlib import Path

import asyncpg
import httpx

from services.intake.bootstrap import create_app as create_intake
from services.issue_coordination.timers import ISSUE_ESCALATION
from shared.devstack.children import Child, stop_processes, wait_ready
from shared.devstack.embedded import free_port
from shared.kv_records import read_record
from shared.names import timer_key
from shared.platform_clock import advance_offset
from shared.runtime import Runtime
from shared.settings import Settings
from tests.platform import auth, bootstrap_orgs, project_body, running, runtime_of, wait_until

ROOT = Path(__file__).resolve().parents[2]
SERVICE = "issue_coordination"
ISSUES = 60
START = "2024-09-27T10:00:00+08:00"  # a Friday; the issues are due at 12:00, the day's run is at 18:30


def service_env(settings: Settings, replica: str) -> dict[str, str]:
    keep = {k: v for k, v in os.environ.items() if not k.startswith(("NATS_", "TIAODU_", "DATABASE_"))}
    return keep | {
        "NATS_URL": settings.nats_url, "DATABASE_URL": settings.database_url, "TIAODU_STREAM": settings.stream,
        "TIAODU_SUBJECT_PREFIX": settings.subject_prefix, "PYTHONPATH": str(ROOT), "REPLICA_ID": replica,
        "TIAODU_CLOCK_START": START, "TIAODU_TIMER_POLL_S": "0.3",
    }  # fmt: skip


@contextmanager
def replica_process(settings: Settings, replica: str, port: int) -> Iterator[Child]:
    log = Path(tempfile.mkdtemp(prefix="tiaodu-escalation-")) / f"{replica}.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "services.issue_coordination"], cwd=ROOT,
            env=service_env(settings, replica) | {"SERVICE_PORT": str(port)}, stdout=out, stderr=out,
        )  # fmt: skip
        child = Child(replica, proc, f"http://127.0.0.1:{port}", log)
        try:
            wait_ready(child)
            yield child
        finally:
            stop_processes([proc])


async def at_level(pool: asyncpg.Pool, level: str) -> int:
    return int(await pool.fetchval(f"SELECT count(*) FROM {SERVICE}.issues WHERE level = $1", level))


async def steps_of(rt: Runtime, issue_ids: list[str]) -> dict[str, list[str]]:
    """The levels each issue's IssueEscalated events reached, as the log has them."""
    steps = {}
    for issue_id in issue_ids:
        events = await rt.store.read_aggregate("issue", issue_id)
        steps[issue_id] = [e.envelope.payload["to_level"] for e in events if e.envelope.type == "IssueEscalated"]
    return steps


async def test_two_replicas_escalate_each_step_exactly_once_across_a_kill_and_a_restart(settings: Settings) -> None:
    intake_app = create_intake(dataclasses.replace(settings, replica_id="intake-1"))
    ports = {"issues-a": free_port(), "issues-b": free_port()}
    async with AsyncExitStack() as stack:
        intake = await stack.enter_async_context(running(intake_app))
        rt = runtime_of(intake_app)
        assert rt.kv is not None
        tokens = await bootstrap_orgs(rt.store)
        hq = auth(tokens["hq"])
        assert await rt.runner.wait_for(await rt.store.last_seq(), 10)
        r = await intake.post("/v1/programmes", json={"id": "prog", "name": "2024 三十工程", "year": 2024}, headers=hq)
        assert r.status_code == 201, r.text
        assert await rt.runner.wait_for(r.json()["seq"], 10)
        r = await intake.post("/v1/projects", json=project_body(), headers=hq)  # sponsored by leader-a
        assert r.status_code == 201, r.text
        project_id = r.json()["id"]

        procs = {name: stack.enter_context(replica_process(settings, name, port)) for name, port in ports.items()}
        pool = await asyncpg.create_pool(settings.database_url, min_size=1, max_size=2)
        stack.push_async_callback(pool.close)
        a = await stack.enter_async_context(httpx.AsyncClient(base_url=procs["issues-a"].url, timeout=20))

        async def knows_the_project() -> bool:
            found = await pool.fetchval(f"SELECT count(*) FROM {SERVICE}.project_directory WHERE id = $1",
                                        project_id)  # fmt: skip
            return bool(found)

        await wait_until(knows_the_project, timeout=20, what="issue_coordination knows the project")
        issue_ids = []
        for n in range(ISSUES):
            body = {"project_id": project_id, "category": "land", "description": f"问题{n}", "help_requested": "协调"}
            r = await a.post("/v1/issues", json=body, headers=auth(tokens["unit-a"]))
            assert r.status_code == 201, r.text
            issue_ids.append(r.json()["id"])
            assignment = {"lead_unit_id": "unit-b", "deadline": "2024-09-27T12:00:00+08:00"}
            r = await a.post(f"/v1/issues/{issue_ids[-1]}/assignment", json=assignment, headers=hq)
            assert r.status_code == 200, r.text

        # One day on: the run of 09-27 18:30 escalates all of them; kill whoever runs it once it has begun.
        await advance_offset(rt.kv, settings.stream, timedelta(days=1))
        await wait_until(lambda: _some(pool, "hq"), timeout=30, what="the day's run has begun")
        record, _ = await read_record(rt.kv, timer_key(settings.stream, SERVICE, ISSUE_ESCALATION))
        assert record is not None
        victim = record["owner"]
        procs[victim].proc.send_signal(signal.SIGKILL)
        procs[victim].proc.wait()
        escalated_before_the_kill = await at_level(pool, "hq")
        assert escalated_before_the_kill < ISSUES, "the run was cut short"

        async def all_at(level: str) -> bool:
            return await at_level(pool, level) == ISSUES

        await wait_until(lambda: all_at("hq"), timeout=40, what="the survivor finishes the day's run")
        assert set(map(tuple, (await steps_of(rt, issue_ids)).values())) == {("hq",)}, "each issue escalated once"

        # The killed replica comes back; two weeks on (hq's 5 working days end on 10-10), one step more each.
        survivor = next(name for name in procs if name != victim)
        procs[victim] = stack.enter_context(replica_process(settings, victim, free_port()))
        await advance_offset(rt.kv, settings.stream, timedelta(days=7))
        await advance_offset(rt.kv, settings.stream, timedelta(days=6))
        await wait_until(lambda: all_at("leader"), timeout=40, what="the run of 10-10 escalates to the leader")
        steps = await steps_of(rt, issue_ids)
        assert set(map(tuple, steps.values())) == {("hq", "leader")}, steps
        for name in (survivor, victim):
            async with httpx.AsyncClient(base_url=procs[name].url) as client:
                ready = (await client.get("/readyz")).json()
            assert ready["parked_events"] == 0, (name, ready)


async def _some(pool: asyncpg.Pool, level: str) -> bool:
    return await at_level(pool, level) > 0
