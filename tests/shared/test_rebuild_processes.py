"""A rebuild spread over OS processes (shared.rebuild_processes), as an operator runs it, against the live read model.

A generated history (realistic stories of projects and their plans, tests/benchmarks/generator.py) plus one event
nobody can use is projected live by each service's runtime; then each read model is rebuilt from sequence 1 in two
processes into a scratch schema: every table equals the live one, the same event is parked for the same reason,
every event id of the service's own aggregates is applied once (and only those: the ids its commands look up), and
every chain head and partition checkpoint is where the live projection has it.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import Callable

import nats
import pytest

from services.intake.bootstrap import read_model as intake_read_model
from services.scheduling.bootstrap import read_model as scheduling_read_model
from shared.catalogue.ownership import SERVICES
from shared.eventstore import EventStore
from shared.projection import ReadModel
from shared.rebuild import RebuildResult, check_whole, diff_schemas
from shared.rebuild_processes import rebuild_in_processes, shares
from shared.runtime import Runtime
from shared.settings import Settings
from tests.benchmarks.generator import generate, register_programmes

BOOKKEEPING = {
    "_dead_letter": "SELECT seq, subject, reason FROM {s}._dead_letter ORDER BY seq",
    "_applied_event": "SELECT event_id, seq FROM {s}._applied_event ORDER BY seq",
    "_chain": "SELECT aggregate_type, aggregate_id, version, hash FROM {s}._chain WHERE grp = 'proj' ORDER BY 1, 2",
    "_checkpoint": "SELECT partition, last_seq FROM {s}._checkpoint WHERE grp = 'proj' ORDER BY 1",
}
# The rebuild loads without most indexes and builds them at its end (shared.rebuild_indexes): the same ones as live.
INDEXES = "SELECT indexname, replace(indexdef, $1, 'S') FROM pg_indexes WHERE schemaname = $2 ORDER BY 1"
TABLES = "SELECT tablename FROM pg_tables WHERE schemaname = $1 ORDER BY 1"


async def history(settings: Settings) -> int:
    nc = await nats.connect(settings.nats_url)
    try:
        store = EventStore(nc.jetstream(), stream=settings.stream, prefix=settings.subject_prefix,
                           partitions=settings.partitions)  # fmt: skip
        await register_programmes(store)
        await generate(store, first=0, count=6, weeks=40, inflight=3)
        await store.js.publish(store.publish_subject("project", "gen-000002"), b"not an envelope")
        await generate(store, first=6, count=2, weeks=10, inflight=2)
        return await store.last_seq()
    finally:
        await nc.close()


async def own_events(store: EventStore, service: str, parked: list[str]) -> dict[str, int]:
    """The events in the log per aggregate type `service` appends, but for those parked (stored on `parked`)."""
    counts: dict[str, int] = {}
    info = await store.js.stream_info(store.stream, subjects_filter=f"{store.prefix}.evp.>")
    for subject, n in (info.state.subjects or {}).items():
        kind = subject.split(".")[3]
        if kind in SERVICES[service].aggregates:
            counts[kind] = counts.get(kind, 0) + n - parked.count(subject)
    return counts


@pytest.mark.parametrize(
    ("service", "read_model"), [("intake", intake_read_model), ("scheduling", scheduling_read_model)]
)
async def test_a_rebuild_in_two_processes_equals_the_live_read_model(
    settings: Settings, service: str, read_model: Callable[[], ReadModel]
) -> None:
    last = await history(settings)
    rt = await Runtime.start(service, settings, read_model())
    try:
        assert await rt.runner.wait_for(last, 60)
        result = await rebuild_in_processes(settings, service, read_model, f"{service}_rebuilt", processes=2)
        assert (result.until_seq, result.processes) == (last, 2)
        assert (result.applied, result.dead_lettered) == (last - 1, 1)
        assert await diff_schemas(rt.pool, read_model(), rt.schema, f"{service}_rebuilt") == {}
        async with rt.pool.acquire() as conn:
            for table, query in BOOKKEEPING.items():
                live = await conn.fetch(query.format(s=rt.schema))
                rebuilt = await conn.fetch(query.format(s=f"{service}_rebuilt"))
                assert [tuple(r) for r in rebuilt] == [tuple(r) for r in live], table
            assert len(await conn.fetch(BOOKKEEPING["_dead_letter"].format(s=rt.schema))) == 1
            kept = await conn.fetch(f"SELECT aggregate_type, count(*) FROM {rt.schema}._applied_event GROUP BY 1")
            parked = [r["subject"] for r in await conn.fetch(f"SELECT subject FROM {rt.schema}._dead_letter")]
            assert {r[0]: r[1] for r in kept} == await own_events(rt.store, service, parked)
            rebuilt_schema = f"{service}_rebuilt"
            live_indexes = [tuple(r) for r in await conn.fetch(INDEXES, f"{rt.schema}.", rt.schema)]
            assert [tuple(r) for r in await conn.fetch(INDEXES, f"{rebuilt_schema}.", rebuilt_schema)] == live_indexes
            assert any(name == "_applied_event_pkey" for name, _ in live_indexes)
            live_tables = await conn.fetch(TABLES, rt.schema)
            assert await conn.fetch(TABLES, rebuilt_schema) == live_tables  # no `_deferred_index` left behind
    finally:
        await rt.stop()


async def test_the_rebuild_command_runs_under_the_service_s_own_name_and_compares(settings: Settings) -> None:
    last = await history(settings)
    rt = await Runtime.start("intake", settings, intake_read_model())
    try:
        assert await rt.runner.wait_for(last, 60)
        env = {**os.environ, "NATS_URL": settings.nats_url, "DATABASE_URL": settings.database_url,
               "TIAODU_STREAM": settings.stream, "TIAODU_SUBJECT_PREFIX": settings.subject_prefix}  # fmt: skip
        command = [sys.executable, "-m", "services.intake.cli", "rebuild", "--schema", "intake_cli", "--processes",
                   "2", "--compare", rt.schema]  # fmt: skip
        done = await asyncio.to_thread(
            subprocess.run, command, env=env, capture_output=True, text=True, timeout=120, check=True
        )
        answer = json.loads(done.stdout.strip().splitlines()[-1])
        assert answer["until_seq"] == last and answer["processes"] == 2 and answer["differences"] == {}
        assert answer["rows"] == []
        assert (answer["applied"], answer["dead_lettered"]) == (last - 1, 1)
    finally:
        await rt.stop()


def test_partitions_are_dealt_round_robin_to_at_most_one_process_each() -> None:
    assert shares(4, 2) == [[0, 2], [1, 3]]
    assert shares(4, 3) == [[0, 3], [1], [2]]
    assert shares(4, 8) == [[0], [1], [2], [3]]
    assert shares(4, 1) == [[0, 1, 2, 3]]


async def test_a_rebuild_that_read_fewer_events_than_the_log_holds_fails_loudly(settings: Settings) -> None:
    last = await history(settings)
    nc = await nats.connect(settings.nats_url)
    try:
        store = EventStore(nc.jetstream(), stream=settings.stream, prefix=settings.subject_prefix,
                           partitions=settings.partitions)  # fmt: skip
        await check_whole(store, RebuildResult("s", last, last - 1, 1, read=last))
        with pytest.raises(RuntimeError, match="read 99"):
            await check_whole(store, RebuildResult("s", last, 98, 1, read=99))
        with pytest.raises(RuntimeError, match=f"used {last - 2} \\+ 1 parked"):
            await check_whole(store, RebuildResult("s", last, last - 2, 1, read=last))
    finally:
        await nc.close()


FORK_PROBE = """
import threading
from shared.rebuild_processes import forked_children
from shared.settings import Settings

settings = Settings(nats_url="nats://unused", database_url="postgresql://unused", partitions=4)
assert forked_children(settings, 1) is None  # one share: the rebuild folds in this process
children = forked_children(settings, 2)
assert children is not None and children._mp_context.get_start_method() == "fork"
assert len(children._processes) == 2  # started now, before any loop, socket or thread
children.shutdown()
stop = threading.Event()
threading.Thread(target=stop.wait).start()
assert forked_children(settings, 2) is None  # a thread runs: the rebuild spawns its processes instead
stop.set()
print("ok")
"""


def test_the_rebuild_command_forks_its_processes_only_while_no_thread_runs() -> None:
    """In a fresh interpreter, as the rebuild command's process is: a pytest process runs threads of its own."""
    done = subprocess.run([sys.executable, "-c", FORK_PROBE], capture_output=True, text=True, timeout=60, check=False)
    assert (done.returncode, done.stdout.strip()) == (0, "ok"), done.stderr
