"""Graceful shutdown (ADR 0035). For real: SIGTERM a replica process of the counting projection in the middle of a
batch while events keep coming; it commits the batch in hand, gives its leases back and exits 0, the other replica
takes its partitions over long before the leases would have expired, and every event is applied exactly once.
And a timer stopped mid-run gives its lease back at once."""

from __future__ import annotations

import asyncio
import dataclasses
import re
import signal
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from shared.auth import IdentityReadModel
from shared.clock import CHINA, SimulatedClock
from shared.names import LEASE_BUCKET
from shared.runtime import Runtime
from shared.schedule import Period, Schedule
from shared.settings import Settings
from shared.timers import Timer, TimerRunner
from tests.platform import wait_until
from tests.shared.counting import assert_exactly_once, caught_up, counting_runtime, read_log_facts
from tests.shared.fleet import Fleet, applied_by, in_open_transaction, owners, top_seq
from tests.shared.load import Writer

# Long enough that a takeover by expiry cannot pass for a release: the survivor must take over in a third of it.
LEASE_TTL_S = 45.0
TAKEOVER_WITHIN_S = LEASE_TTL_S / 3
BATCH = 50
AGGREGATES = 50


async def test_sigterm_mid_batch_commits_it_releases_the_leases_and_the_other_takes_over(
    settings: Settings, tmp_path: Path
) -> None:
    settings = dataclasses.replace(settings, lease_ttl_s=LEASE_TTL_S, partitions=4)
    async with counting_runtime(settings, run_projection=False) as rt, Fleet(settings, tmp_path, batch=BATCH) as fleet:
        names = ["a", "b"]
        writer = Writer(rt.store, AGGREGATES)
        await writer.register_all()
        load = asyncio.create_task(writer.steady(4000, per_second=150))
        try:
            await fleet.start_sharing(names, rt.pool, rt.schema, 60)
            victim, tops = "", {}

            async def caught_mid_batch() -> bool:
                nonlocal victim, tops
                for name in names:
                    # Read before looking: rows of a transaction open now are not in these figures.
                    before = {p: await top_seq(rt.pool, rt.schema, p) for p in range(settings.partitions)}
                    if await in_open_transaction(rt.pool, name):
                        fleet.replicas[name].send(signal.SIGTERM)
                        victim, tops = name, before
                        return True
                return False

            await wait_until(caught_mid_batch, 20, "a replica inside a batch transaction")
            survivor = next(n for n in names if n != victim)
            code = await asyncio.wait_for(fleet.replicas[victim].proc.wait(), 30)
            exited = time.monotonic()
            assert code == 0, f"the SIGTERMed replica exited with {code}\n{fleet.logs()}"
            assert not load.done(), "the load ended before the stop: it must happen while writes continue"
            # Each partition it held says it was drained (with the batch in hand committed, or nothing in hand)...
            log = fleet.replicas[victim].log.read_text()
            held = sorted({int(p) for p in re.findall(r"partition (\d+) drained", log)})
            assert held, log[-3000:]
            # ...and the batch in hand was committed by the victim itself (a cancelled one would have been rolled
            # back, and applied later by the survivor).
            committed = [await applied_by(rt.pool, rt.schema, victim, p, tops[p]) for p in held]
            assert sum(committed) > 0, f"{victim} committed nothing after SIGTERM in partitions {held}\n{log[-3000:]}"
            at_exit = {p: await top_seq(rt.pool, rt.schema, p) for p in held}

            async def survivor_took_over() -> bool:
                fleet.check_alive()
                current = await owners(rt.pool, rt.schema)
                tops_now = [await top_seq(rt.pool, rt.schema, p, not_by=victim) for p in held]
                return all(current.get(p) == survivor for p in held) and all(
                    top > at_exit[p] for top, p in zip(tops_now, held, strict=True)
                )

            await wait_until(survivor_took_over, TAKEOVER_WITHIN_S, f"{survivor} applying partitions {held}")
            took = time.monotonic() - exited
            assert took < TAKEOVER_WITHIN_S, took
            await load
            facts = await read_log_facts(rt.store)

            async def done() -> bool:
                fleet.check_alive()
                return await caught_up(rt.pool, rt.schema, facts)

            await wait_until(done, 60, "the survivor to reach the end of the log")
            await assert_exactly_once(rt.pool, rt.schema, rt.store)
        finally:
            load.cancel()


async def test_a_timer_stopped_mid_run_hands_its_lease_back_at_once(settings: Settings) -> None:
    """A stop (the runtime's tasks cancelled after the drain) in the middle of a timer's run releases the timer's
    lease: another replica runs the period now, not after the lease's TTL (here far longer than the test waits)."""
    clock = SimulatedClock(datetime(2026, 11, 29, 7, tzinfo=CHINA).astimezone(UTC))
    settings = dataclasses.replace(settings, lease_ttl_s=LEASE_TTL_S)
    finished: list[str] = []
    entered = asyncio.Event()

    async def hangs(rt: Runtime, period: Period) -> None:
        entered.set()
        await asyncio.sleep(3600)

    async def runs(rt: Runtime, period: Period) -> None:
        finished.append(period.label)

    def replica(name: str) -> Settings:
        return dataclasses.replace(settings, replica_id=name)

    a = await Runtime.start("timerstop", replica("a"), IdentityReadModel(), run_projection=False)
    b = await Runtime.start("timerstop", replica("b"), IdentityReadModel(), run_projection=False)
    try:
        schedule = Schedule.parse("daily 06:00")
        runner_a = TimerRunner(a, [Timer("t", schedule, hangs)], kv=await a.js.key_value(LEASE_BUCKET), clock=clock)
        timer_b = Timer("t", schedule, runs)
        runner_b = TimerRunner(b, [timer_b], kv=await b.js.key_value(LEASE_BUCKET), clock=clock)
        running = asyncio.create_task(runner_a.tick(runner_a.timers[0]))
        await asyncio.wait_for(entered.wait(), 10)
        await runner_b.tick(timer_b)
        assert finished == []  # a holds the lease
        running.cancel()
        with pytest.raises(asyncio.CancelledError):
            await running
        await runner_b.tick(timer_b)  # at once: no wait for the 45 s lease
        assert finished == ["2026-11-29"]
    finally:
        await a.stop()
        await b.stop()
