"""The year-end timer (docs/adr/0037): once a programme year is closed (its first working day after New Year's Day),
scheduling records its evaluation as of 31 December by itself, once across two replicas ticking together, across a
restart that forgot what its timer had done, and not when hq recorded a run of the whole year already."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator
from datetime import date

import pytest

from services.scheduling.bootstrap import read_model
from services.scheduling.handlers_year_end import closing_day
from services.scheduling.timers import YEAR_END_EVALUATION, close_years
from shared.names import LEASE_BUCKET, timer_key
from shared.runtime import Runtime
from shared.schedule import Schedule
from shared.settings import Settings
from shared.timers import Timer, TimerRunner
from tests.scheduling.conftest import Platform
from tests.scheduling.year_end_history import EXPECTED_SCORES, cst, evaluations, post, script_2024

TIMER = Timer(YEAR_END_EVALUATION, Schedule.parse("daily 07:00"), close_years)


def test_the_closing_day_is_the_first_weekday_after_new_years_day() -> None:
    assert closing_day(2024) == date(2025, 1, 2)  # a Thursday
    assert closing_day(2021) == date(2022, 1, 3)  # 2 January 2022 was a Sunday
    assert closing_day(2022) == date(2023, 1, 2)  # a Monday


@pytest.fixture
async def second_replica(platform: Platform, settings: Settings) -> AsyncIterator[Runtime]:
    """A second scheduling process on the same read model (replicas share the schema), on the platform's clock."""
    rt = await Runtime.start(
        "scheduling", dataclasses.replace(settings, replica_id="scheduling-2"), read_model(),
        schema=platform.scheduling_rt.schema, run_projection=False, clock=platform.clock,
    )  # fmt: skip
    try:
        yield rt
    finally:
        await rt.stop()


async def _recorded_runs(platform: Platform) -> list[int]:
    """The run numbers of prog's 2024 evaluation in the log."""
    events = await platform.scheduling_rt.store.read_aggregate("year_end_evaluation", "prog-2024")
    return [int(e.envelope.payload["run"]) for e in events]


async def test_the_timer_records_a_closed_year_once_across_replicas_and_restarts(
    platform: Platform, second_replica: Runtime
) -> None:
    await script_2024(platform)
    replicas = (platform.scheduling_rt, second_replica)
    runners = [TimerRunner(rt, [TIMER], kv=await rt.js.key_value(LEASE_BUCKET), clock=platform.clock)
               for rt in replicas]  # fmt: skip

    async def both_tick(times: int = 3) -> None:
        for _ in range(times):
            await asyncio.gather(*(runner.tick(TIMER) for runner in runners))

    # The last evening of the year and New Year's Day: the year is not closed yet.
    for moment in (cst(date(2024, 12, 31), 20), cst(date(2025, 1, 1), 9)):
        platform.clock.current = moment
        await both_tick()
        assert await _recorded_runs(platform) == []
    # Thursday 2 January, 07:00 passed: both replicas tick together, one records the run.
    platform.clock.current = cst(date(2025, 1, 2), 7).replace(minute=30)
    await both_tick()
    assert await _recorded_runs(platform) == [1]
    periods = sorted(label for runner in runners for _, label in runner.runs)
    assert periods == ["2024-12-31", "2025-01-01", "2025-01-02"]  # each period run once, by one replica
    # The next day: a period runs, nothing more is recorded.
    platform.clock.current = cst(date(2025, 1, 3), 8)
    await both_tick()
    assert await _recorded_runs(platform) == [1]
    # A restart that lost the timer's record (its key gone) runs 3 January's period again: still one run.
    kv = await platform.scheduling_rt.js.key_value(LEASE_BUCKET)
    settings = platform.scheduling_rt.settings
    await kv.delete(timer_key(settings.stream, platform.scheduling_rt.runner.service, TIMER.name))
    restarted = TimerRunner(second_replica, [TIMER], kv=await second_replica.js.key_value(LEASE_BUCKET),
                            clock=platform.clock)  # fmt: skip
    await restarted.tick(TIMER)
    assert restarted.runs == [(YEAR_END_EVALUATION, "2025-01-03")]
    assert await _recorded_runs(platform) == [1]
    # What it recorded: the whole of 2024 as known by its end, under the rules in force then (as hq's run would).
    await platform.synced()
    units = (await evaluations(platform))["items"]
    assert {(u["run"], u["as_of"], u["rule_version"]) for u in units} == {(1, "2024-12-31", 1)}
    assert {u["unit_id"]: (u["score"], u["grade"], u["rank"]) for u in units} == EXPECTED_SCORES


async def test_the_timer_leaves_a_year_hq_has_recorded_whole(platform: Platform, second_replica: Runtime) -> None:
    await script_2024(platform)
    platform.clock.current = cst(date(2025, 1, 1), 10)  # hq records on New Year's Day, as of 31 December
    await post(platform, "/v1/evaluations", {"programme_id": "prog"}, "hq")
    await platform.synced()
    platform.clock.current = cst(date(2025, 1, 2), 8)
    runner = TimerRunner(second_replica, [TIMER], kv=await second_replica.js.key_value(LEASE_BUCKET),
                         clock=platform.clock)  # fmt: skip
    await runner.tick(TIMER)
    assert runner.runs == [(YEAR_END_EVALUATION, "2025-01-02")]
    assert await _recorded_runs(platform) == [1]
