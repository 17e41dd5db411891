"""A projection rebuilt beside the live one and swapped in while it serves (shared/rebuild_swap.py, docs/adr/0034).

intake runs in this process with its live projection; a writer appends sound intake events to the log at a steady
rate throughout; a reader loop lists projects through intake's API as fast as it can. The read model is rebuilt
into a scratch schema from the log (while the writer goes on, so the live one is ahead of the rebuild's end) and
swapped in. Every answer the reader got, before, during and after the swap, is 200 with at least the projects
registered before it began (no error, no empty or shrunken answer); afterwards the live projection, fenced by the
swap, claimed its partitions again from the rebuild's position and caught up: its read model equals a fresh
rebuild of the whole log (diff empty) and nothing is parked.
"""

from __future__ import annotations

import asyncio
import dataclasses

from services.intake.bootstrap import create_app, read_model
from shared.eventstore import EventStore
from shared.rebuild import diff_schemas, rebuild
from shared.rebuild_swap import swap_in
from shared.settings import Settings
from tests.platform import auth, bootstrap_and_wait, running, runtime_of, wait_until
from tests.shared.load import Writer

PROJECTS = 40


async def test_a_rebuilt_projection_is_swapped_in_while_reads_are_served(settings: Settings) -> None:
    app = create_app(dataclasses.replace(settings, replica_id="intake-1"))
    async with running(app) as client:
        rt = runtime_of(app)
        hq = (await bootstrap_and_wait(rt))["hq"]
        r = await client.post("/v1/programmes", json={"id": "prog", "name": "计划", "year": 2024}, headers=auth(hq))
        assert r.status_code == 201, r.text
        writer = Writer(rt.store, PROJECTS)
        await writer.register_all()
        assert await rt.runner.wait_for(await rt.store.last_seq(), 30)
        load = asyncio.create_task(writer.steady(100_000, per_second=100))
        answers: list[tuple[int, int]] = []  # (status, total) of every read
        reading = True

        async def reader() -> None:
            while reading:
                r = await client.get("/v1/projects", params={"limit": 1}, headers=auth(hq))
                answers.append((r.status_code, r.json().get("total", -1) if r.status_code == 200 else -1))
                await asyncio.sleep(0)

        reads = asyncio.create_task(reader())
        try:
            scratch = f"{rt.schema}_next"
            built = await rebuild(rt.pool, rt.store, read_model(), scratch, service=rt.service)
            await wait_until(lambda: _past(rt.store, built.until_seq), 10, "writes after the rebuild")
            during = len(answers)
            fenced = rt.runner.stats.fenced
            swapped = await swap_in(rt.pool, rt.schema, scratch)
            assert "projects" in swapped and "_applied_event" in swapped
            # The live holders' next commits were refused (the swap moved the epochs): they claimed again.
            await wait_until(lambda: _at_least(rt.runner.stats.fenced, fenced + 1), 30, "the live holders fenced")
            await wait_until(lambda: _at_least(len(answers), during + 50), 30, "reads after the swap")
            writer.stop_requested = True
            await load
        finally:
            reading = False
            writer.stop_requested = True
            await asyncio.gather(reads, load, return_exceptions=True)
        bad = [(status, total) for status, total in answers if status != 200 or total < PROJECTS]
        assert not bad and during > 0 and len(answers) > during + 50, (bad[:5], during, len(answers))

        assert await rt.runner.wait_for(await rt.store.last_seq(), 60)
        check = f"{rt.schema}_check"
        await rebuild(rt.pool, rt.store, read_model(), check, service=rt.service)
        assert await diff_schemas(rt.pool, read_model(), rt.schema, check) == {}
        async with rt.pool.acquire() as conn:
            assert await conn.fetchval(f"SELECT count(*) FROM {rt.schema}._dead_letter") == 0
            applied = await conn.fetchval(f"SELECT count(*) FROM {rt.schema}._applied_event")
            events = await conn.fetchval(f"SELECT count(*) FROM {check}._applied_event")
        assert applied == events  # every event applied once since the swap: none skipped, none twice


async def _past(store: EventStore, floor: int) -> bool:
    return await store.last_seq() > floor


async def _at_least(value: int, floor: int) -> bool:
    return value >= floor
