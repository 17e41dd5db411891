"""A timer run by three replica processes, the one running it SIGKILLed in the middle of a run, counted afterwards.

Three real processes (tests.shared.timer_proc) run the same hourly probe timer on the development platform clock,
every lease and timer setting at its default. The test moves the shared clock six hours on, so six periods fall due
and the replica holding the timer runs them one after the other; it is SIGKILLed while a run's transaction is open
(a kill point seen in pg_stat_activity, not a moment slept to), after at least one of the six has finished. The
others take the timer as its lease lapses (within 10 s of the kill) and run what is left; then the clock moves two
hours more. Afterwards every period from the first start to the last has exactly one finished run (none twice, none
missing), the killed run finished by another replica, the timer's record is at the last period and handed back, and
no replica logged a failed run.
"""

from __future__ import annotations

import dataclasses
import signal
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path

import asyncpg

from shared.db import create_pool
from shared.kv_records import read_record
from shared.names import LEASE_BUCKET, timer_key
from shared.platform_clock import advance_offset
from shared.runtime import connect_nats
from shared.settings import DEFAULT_LEASE_TTL_S, Settings
from tests.platform import wait_until
from tests.shared.counting import COUNTER
from tests.shared.fleet import Fleet
from tests.shared.timer_proc import PROBE_DDL, PROBE_SCHEMA

START = "2026-11-30T10:20:00+08:00"  # the first start runs the period of 10:00; the test lasts far less than 40 min
WORK_S = 1.0  # each run holds its transaction open this long
SHARE_MOVES_WITHIN_S = 10.0  # issue 12: a killed replica's share (its timer run too) moves within 10 s
FRESH_S = 0.3  # a run is killed only while its transaction is younger than this: it is surely not committing yet


def hourly(first: int, last: int) -> list[str]:
    return [f"2026-11-30T{hour:02d}:00:00" for hour in range(first, last + 1)]


async def finished(pool: asyncpg.Pool) -> list[str]:
    return [r["period"] for r in await pool.fetch(f"SELECT period FROM {PROBE_SCHEMA}.finished")]


async def runs(pool: asyncpg.Pool, table: str, replica: str) -> set[str]:
    rows = await pool.fetch(f"SELECT period FROM {PROBE_SCHEMA}.{table} WHERE replica = $1", replica)
    return {r["period"] for r in rows}


async def in_fresh_transaction(pool: asyncpg.Pool, replica: str) -> bool:
    """The replica holds a transaction that has written and began less than FRESH_S ago (a run in its work)."""
    found = await pool.fetchval(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND application_name = $1 "
        "AND backend_xid IS NOT NULL AND now() - xact_start < make_interval(secs => $2)",
        replica,
        FRESH_S,
    )
    return bool(found)


async def test_three_replicas_run_each_period_once_across_a_sigkill_mid_run(settings: Settings, tmp_path: Path) -> None:
    settings = dataclasses.replace(settings, lease_ttl_s=DEFAULT_LEASE_TTL_S)
    # Every timer setting at its default (a 30 s poll): the runs follow the clock's moves, and the takeover the
    # victim's lease lapsing, not the poll.
    env = {"TIAODU_CLOCK_START": START, "PROBE_SCHEDULE": "every 1h", "PROBE_WORK_S": str(WORK_S)}
    nc = await connect_nats(settings, "timer-test")
    pool = await create_pool(settings.database_url, max_size=4)
    try:
        await pool.execute(PROBE_DDL)
        kv = await nc.jetstream().key_value(LEASE_BUCKET)
        names = ["t1", "t2", "t3"]
        async with Fleet(settings, tmp_path, module="tests.shared.timer_proc", env=env) as fleet:
            for name in names:
                await fleet.start(name)

            async def finished_are(expected: list[str]) -> bool:
                fleet.check_alive()
                return sorted(await finished(pool)) == expected

            # First start: the latest period whose start has passed, once, whoever started first.
            await wait_until(lambda: finished_are(hourly(10, 10)), 60, "the first start's run of 10:00")

            await advance_offset(kv, settings.stream, timedelta(hours=6))
            victim = ""

            async def caught_mid_run() -> bool:
                nonlocal victim
                fleet.check_alive()
                if len(await finished(pool)) < 2:
                    return False  # not one of the six finished yet: wait until the run is in its middle
                for name in names:
                    if await in_fresh_transaction(pool, name):
                        fleet.replicas[name].send(signal.SIGKILL)
                        victim = name
                        return True
                return False

            await wait_until(caught_mid_run, 60, "the replica running the six periods inside one of them")
            killed_at = time.monotonic()
            await fleet.replicas[victim].proc.wait()
            killed_runs = await runs(pool, "started", victim) - await runs(pool, "finished", victim)
            assert len(killed_runs) == 1, f"the kill must land inside exactly one run: {killed_runs}"
            assert len(await finished(pool)) < 7, "the kill must land before the six periods were all run"

            async def killed_run_finished() -> bool:
                return bool(set(await finished(pool)) & killed_runs)

            await wait_until(killed_run_finished, SHARE_MOVES_WITHIN_S, "another replica running the killed period")
            print(f"timer takeover: {victim}'s period run again {time.monotonic() - killed_at:.1f}s after the SIGKILL")

            await wait_until(lambda: finished_are(hourly(10, 16)), 60, "the others running what the victim left")
            await advance_offset(kv, settings.stream, timedelta(hours=2))
            await wait_until(lambda: finished_are(hourly(10, 18)), 60, "the survivors running 17:00 and 18:00")

            counted = Counter(await finished(pool))
            assert set(counted) == set(hourly(10, 18)) and set(counted.values()) == {1}, counted
            (killed_run,) = killed_runs
            finisher = await pool.fetchval(f"SELECT replica FROM {PROBE_SCHEMA}.finished WHERE period = $1", killed_run)
            assert finisher in set(names) - {victim}
            record, _ = await read_record(kv, timer_key(settings.stream, COUNTER, "probe"))
            assert record is not None
            assert record["label"] == "2026-11-30T18:00:00" and record["expires_at"] == 0.0, record
            for name in set(names) - {victim}:
                assert "retrying at the next poll" not in fleet.replicas[name].log.read_text(), fleet.logs()
            parked = await pool.fetchval(f"SELECT count(*) FROM {COUNTER}._dead_letter")
            assert parked == 0
    finally:
        await pool.close()
        await nc.close()
