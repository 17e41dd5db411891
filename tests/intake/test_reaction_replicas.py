"""A reaction shared by three replica processes, one SIGKILLed mid-batch under load, counted afterwards.

Three real `python -m services.intake` processes on the suite's NATS and PostgreSQL (every setting at its default,
the lease TTL too) share intake's projection and its `change_requests` reaction (each approved change request causes
one amendment of its project, with an event id derived from the approval's). Once all three hold partitions of
both, change requests, each filed then approved, are appended to the log at a steady rate; a replica is SIGKILLed
while it holds an open write transaction (a batch of its projection or its reaction, half applied). Within 10 s
every partition of the reaction moves on again (the victim's share taken over by the other two); when the load
ends, the log holds exactly one amendment per approval (none twice, none missing), each project's amendments are
its versions in order, nothing is parked, and intake's read model equals a rebuild of the log (rebuild diff empty).
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import tempfile
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from decimal import Decimal
from pathlib import Path

import asyncpg
import httpx

from services.intake.bootstrap import read_model
from services.intake.reactions import CHANGE_REQUESTS
from shared.catalogue.intake import ChangeRequestApproved, ChangeRequestFiled, ChangeRequestKind
from shared.db import create_pool
from shared.devstack.children import Child, stop_processes, wait_ready
from shared.devstack.embedded import free_port
from shared.envelope import parse_envelope
from shared.eventstore import EventStore, Position
from shared.rebuild import diff_schemas, rebuild
from shared.runtime import connect_nats
from shared.settings import Settings
from tests.platform import SYSTEM_CTX, bootstrap_orgs, wait_until
from tests.shared.fleet import in_open_transaction
from tests.shared.load import Writer

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = "intake"
PROJECTS = 30
APPROVALS = 400
SHARE_MOVES_WITHIN_S = 10.0


@contextmanager
def intake_replica(settings: Settings, replica: str) -> Iterator[Child]:
    port = free_port()
    keep = {k: v for k, v in os.environ.items() if not k.startswith(("NATS_", "TIAODU_", "DATABASE_"))}
    env = keep | {
        "NATS_URL": settings.nats_url, "TIAODU_STREAM": settings.stream, "PYTHONPATH": str(ROOT),
        # The application name lets the test see the replica's open transaction in pg_stat_activity.
        "DATABASE_URL": f"{settings.database_url}?application_name={replica}",
        "TIAODU_SUBJECT_PREFIX": settings.subject_prefix, "REPLICA_ID": replica, "SERVICE_PORT": str(port),
    }  # fmt: skip
    log = Path(tempfile.mkdtemp(prefix="tiaodu-reaction-")) / f"{replica}.log"
    with log.open("wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "services.intake"], cwd=ROOT, env=env, stdout=out, stderr=out)
    child = Child(replica, proc, f"http://127.0.0.1:{port}", log)
    try:
        wait_ready(child)
        yield child
    finally:
        stop_processes([proc])


async def approve(store: EventStore, n: int, project_id: str) -> None:
    """Change request `cr-<n>` filed and approved: the project's planned investment becomes 100000 + n (always a
    change), as intake writes them (the unit files, hq approves)."""
    kind, total = ChangeRequestKind.PLANNED_INVESTMENT, Decimal(100_000 + n)
    filed = ChangeRequestFiled(
        project_id=project_id, programme_id="prog", unit_id="unit-a", kind=kind, reason=f"申请 {n}",
        total_investment=total,
    )  # fmt: skip
    first = await store.append("change_request", f"cr-{n}", filed, expected=Position(), context=SYSTEM_CTX)
    approved = ChangeRequestApproved(project_id=project_id, kind=kind, reason=f"批准 {n}", total_investment=total)
    await store.append("change_request", f"cr-{n}", approved, expected=Position().after(first), context=SYSTEM_CTX)


async def reaction_checkpoints(pool: asyncpg.Pool) -> dict[int, int]:
    rows = await pool.fetch(f"SELECT partition, last_seq FROM {SCHEMA}._checkpoint WHERE grp = $1", CHANGE_REQUESTS)
    return {r["partition"]: r["last_seq"] for r in rows}


async def test_three_replicas_share_a_reaction_and_a_sigkill_mid_batch_applies_each_approval_once(
    settings: Settings,
) -> None:
    nc = await connect_nats(settings, "reaction-test")
    pool = await create_pool(settings.database_url, max_size=4)
    store = EventStore(nc.jetstream(), stream=settings.stream, prefix=settings.subject_prefix,
                       partitions=settings.partitions)  # fmt: skip
    try:
        await bootstrap_orgs(store)
        writer = Writer(store, PROJECTS)
        await writer.register_all()
        with ExitStack() as replicas:
            names = ["r1", "r2", "r3"]
            children = {name: replicas.enter_context(intake_replica(settings, name)) for name in names}

            async def approvals() -> None:
                for n in range(APPROVALS):
                    await approve(store, n, writer.ids[n % PROJECTS])
                    await asyncio.sleep(0.03)  # pacing: the load is a steady rate, ~30 approvals a second

            await wait_until(lambda: _all_sharing(list(children.values())), 60, "three replicas sharing both groups")
            load = asyncio.create_task(approvals())
            try:
                victim = ""

                async def caught_mid_batch() -> bool:
                    nonlocal victim
                    for name in names:
                        if await in_open_transaction(pool, name):
                            children[name].proc.send_signal(signal.SIGKILL)
                            victim = name
                            return True
                    return False

                await wait_until(caught_mid_batch, 30, "a replica inside a write transaction")
                assert not load.done(), "the kill must land while approvals are still arriving"
                at_kill = await reaction_checkpoints(pool)
                killed_at = asyncio.get_running_loop().time()

                async def every_partition_moved() -> bool:
                    now = await reaction_checkpoints(pool)
                    return all(now[p] > seq for p, seq in at_kill.items())

                await wait_until(every_partition_moved, 30, "every reaction partition moving on after the kill")
                moved_after = asyncio.get_running_loop().time() - killed_at
                assert moved_after < SHARE_MOVES_WITHIN_S, f"{victim}'s share moved after {moved_after:.1f}s"
                # Every service setting at its default, the lease TTL too: the figure docs/operations.md quotes.
                print(f"takeover: every reaction partition moved on {moved_after:.1f}s after {victim}'s SIGKILL")
                await load
            finally:
                load.cancel()
            last_approval: dict[int, int] = {}  # partition -> seq of its last approval
            async for chunk in store.read_log(1):
                for seq, subject, data in chunk:
                    if parse_envelope(data).type == "ChangeRequestApproved":
                        last_approval[int(subject.split(".")[2])] = seq
            await wait_until(lambda: _reached(pool, last_approval), 60, "the reaction reaching the last approvals")

            approvals_seen: dict[str, str] = {}  # approval event id -> project
            caused: Counter[str] = Counter()
            amendments: dict[str, list[int]] = {}
            last_event: dict[int, int] = {}  # partition -> seq of its last event
            async for chunk in store.read_log(1):
                for seq, subject, data in chunk:
                    env = parse_envelope(data)
                    last_event[int(subject.split(".")[2])] = seq
                    if env.type == "ChangeRequestApproved":
                        approvals_seen[str(env.id)] = env.payload["project_id"]
                    elif env.type == "ProjectDetailsAmended":
                        caused[str(env.causation_id)] += 1
                        amendments.setdefault(env.aggregate_id, []).append(env.version)
            assert len(approvals_seen) == APPROVALS
            assert set(caused) == set(approvals_seen), "an approval without its amendment, or one without approval"
            assert set(caused.values()) == {1}, [c for c, k in caused.items() if k != 1][:5]
            for versions in amendments.values():  # registration is version 1, then one version per amendment
                assert versions == list(range(2, len(versions) + 2))
            assert await pool.fetchval(f"SELECT count(*) FROM {SCHEMA}._dead_letter") == 0
            await wait_for_projection(pool, last_event)
            await rebuild(pool, store, read_model(), "intake_check", service="intake")
            assert await diff_schemas(pool, read_model(), SCHEMA, "intake_check") == {}
    finally:
        await pool.close()
        await nc.close()


async def _all_sharing(children: list[Child]) -> bool:
    """Every replica holds partitions of the projection and of the reaction (rebalancing after the starts is over)."""
    async with httpx.AsyncClient(timeout=5) as client:
        for child in children:
            status = (await client.get(f"{child.url}/projection/intake")).json()
            reaction = next(r for r in status["reactions"] if r["group"] == CHANGE_REQUESTS)
            if not status["held_partitions"] or not reaction["held_partitions"]:
                return False
    return True


async def _reached(pool: asyncpg.Pool, last: dict[int, int]) -> bool:
    checkpoints = await reaction_checkpoints(pool)
    return all(checkpoints.get(p, 0) >= seq for p, seq in last.items())


async def wait_for_projection(pool: asyncpg.Pool, last: dict[int, int]) -> None:
    async def done() -> bool:
        rows = await pool.fetch(f"SELECT partition, last_seq FROM {SCHEMA}._checkpoint WHERE grp = 'proj'")
        at = {r["partition"]: r["last_seq"] for r in rows}
        return all(at.get(p, 0) >= seq for p, seq in last.items())

    await wait_until(done, 60, "intake's projection reaching the end of the log")
