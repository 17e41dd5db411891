"""One replica running a probe timer in its own process, so that a test can SIGKILL it in the middle of a run.

    python -m tests.shared.timer_proc

Reads the service settings from the environment (NATS_URL, DATABASE_URL, TIAODU_STREAM, TIAODU_SUBJECT_PREFIX,
REPLICA_ID, TIAODU_CLOCK_START, TIAODU_TIMER_POLL_S; the lease TTL at its default unless TIAODU_LEASE_TTL_S is
set) plus PROBE_SCHEDULE and PROBE_WORK_S. The timer `probe` runs on the development platform clock, which every
replica follows from the lease bucket (a test moves it with shared.platform_clock.advance_offset).

Each run of a period records, in the test's `probe` schema:
- `started` (period, replica), committed before the work: who began which period;
- `finished` (period, replica), inserted in a transaction held open for PROBE_WORK_S (the work) and committed at
  its end. No unique key on purpose: a period run twice, or run by two replicas at once, shows as two rows; a
  killed run leaves none (its transaction dies with it) and must be run again by another replica.
"""

from __future__ import annotations

import asyncio
import os

from shared.runtime import Runtime
from shared.schedule import Period, Schedule
from shared.settings import Settings
from shared.timers import Timer
from tests.shared.counting import COUNTER, CountingReadModel
from tests.shared.replica_proc import run_process, run_until_sigterm

PROBE_SCHEMA = "probe"
PROBE_DDL = f"""
CREATE SCHEMA IF NOT EXISTS {PROBE_SCHEMA};
CREATE TABLE IF NOT EXISTS {PROBE_SCHEMA}.started (period text NOT NULL, replica text NOT NULL);
CREATE TABLE IF NOT EXISTS {PROBE_SCHEMA}.finished (period text NOT NULL, replica text NOT NULL);
"""


def probe_timer(replica: str, schedule: str, work_s: float) -> Timer:
    async def handler(rt: Runtime, period: Period) -> None:
        async with rt.pool.acquire() as conn:
            await conn.execute(f"INSERT INTO {PROBE_SCHEMA}.started VALUES ($1, $2)", period.label, replica)
            async with conn.transaction():
                await conn.execute(f"INSERT INTO {PROBE_SCHEMA}.finished VALUES ($1, $2)", period.label, replica)
                await asyncio.sleep(work_s)  # the run's work, inside its transaction: the window a kill lands in

    return Timer("probe", Schedule.parse(schedule), handler, reads_model=False)  # it writes its own probe table


async def main() -> None:
    settings = Settings.from_env(COUNTER)
    timer = probe_timer(
        settings.replica_id, os.environ.get("PROBE_SCHEDULE", "every 1h"), float(os.environ.get("PROBE_WORK_S", "0.5"))
    )
    runtime = await Runtime.start(COUNTER, settings, CountingReadModel(settings.replica_id), timers=[timer])
    await run_until_sigterm(runtime, f"timer replica {settings.replica_id}")


if __name__ == "__main__":
    run_process(main)
