"""Timers: schedules (pure) and exactly-once periods across replicas and restarts (real NATS KV, real PostgreSQL)."""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import UTC, date, datetime, timedelta

import pytest

from shared.auth import IdentityReadModel
from shared.clock import CHINA, SimulatedClock
from shared.names import LEASE_BUCKET
from shared.runtime import Runtime
from shared.schedule import Period, Schedule
from shared.settings import Settings
from shared.timers import Timer, TimerRunner


def china(y: int, m: int, d: int, hh: int = 0, mm: int = 0) -> datetime:
    return datetime(y, m, d, hh, mm, tzinfo=CHINA)


def test_schedules_parse_and_cut_time_into_periods() -> None:
    daily = Schedule.parse("daily 06:00")
    assert daily.due(china(2026, 11, 29, 5, 59)).label == "2026-11-28"
    assert daily.due(china(2026, 11, 29, 6, 0)).label == "2026-11-29"
    weekly = Schedule.parse("weekly fri 17:00")  # the weekly reporting deadline
    assert weekly.due(china(2026, 11, 29, 12)).label == "2026-11-27"  # Sunday: last Friday's
    assert weekly.due(china(2026, 11, 27, 16, 59)).label == "2026-11-20"
    every = Schedule.parse("every 5m")
    assert every.due(china(2026, 11, 29, 6, 7)).label == "2026-11-29T06:05:00"
    # A server in another time zone cuts the same China-time days.
    assert daily.due(datetime(2026, 11, 28, 22, 30, tzinfo=UTC)).day == date(2026, 11, 29)
    missed = daily.missed(china(2026, 11, 26, 6), china(2026, 11, 29, 7), limit=7)
    assert [p.label for p in missed] == ["2026-11-27", "2026-11-28", "2026-11-29"]
    assert [p.label for p in daily.missed(None, china(2026, 11, 29, 7), limit=7)] == ["2026-11-29"]
    assert len(daily.missed(china(2026, 1, 1, 6), china(2026, 11, 29, 7), limit=7)) == 7
    for bad in ("daily", "daily 25:00", "weekly xyz 09:00", "every 0m", "hourly", "every 5d"):
        with pytest.raises(ValueError, match="expected 'daily HH:MM'"):
            Schedule.parse(bad)


async def _runtime(settings: Settings, replica: str) -> Runtime:
    return await Runtime.start(
        "timertest", dataclasses.replace(settings, replica_id=replica), IdentityReadModel(), run_projection=False
    )


async def test_each_period_runs_once_across_replicas_and_restarts(settings: Settings) -> None:
    clock = SimulatedClock(china(2026, 11, 29, 5).astimezone(UTC))
    runs: list[str] = []

    async def handler(rt: Runtime, period: Period) -> None:
        # Not idempotent on purpose: a second run of a period would show as a duplicate.
        await asyncio.sleep(0.05)
        runs.append(period.label)

    timer = Timer("daily_monitoring", Schedule.parse("daily 06:00"), handler)
    a, b = await _runtime(settings, "replica-a"), await _runtime(settings, "replica-b")
    try:
        kv = await a.js.key_value(LEASE_BUCKET)
        runner_a = TimerRunner(a, [timer], kv=kv, clock=clock)
        runner_b = TimerRunner(b, [timer], kv=await b.js.key_value(LEASE_BUCKET), clock=clock)

        async def both_tick(times: int) -> None:
            for _ in range(times):
                await asyncio.gather(runner_a.tick(timer), runner_b.tick(timer))

        await both_tick(3)  # first start: the latest period whose start has passed (06:00 yesterday), once
        assert runs == ["2026-11-28"]
        clock.current = china(2026, 11, 29, 5, 59).astimezone(UTC)
        await both_tick(2)
        assert runs == ["2026-11-28"]
        clock.current = china(2026, 11, 29, 6, 1).astimezone(UTC)
        await both_tick(5)
        assert runs == ["2026-11-28", "2026-11-29"]
        # Down for three days: the missed periods run oldest first, each once.
        clock.current = china(2026, 12, 2, 9).astimezone(UTC)
        await both_tick(5)
        assert runs == ["2026-11-28", "2026-11-29", "2026-11-30", "2026-12-01", "2026-12-02"]
        # A restarted replica (a new runner, same key) remembers what was done.
        restarted = TimerRunner(a, [timer], kv=kv, clock=clock)
        await restarted.tick(timer)
        assert runs == ["2026-11-28", "2026-11-29", "2026-11-30", "2026-12-01", "2026-12-02"]
        assert len(runner_a.runs) + len(runner_b.runs) == 5
    finally:
        await a.stop()
        await b.stop()


async def test_a_replica_that_dies_mid_run_is_taken_over_after_its_lease(settings: Settings) -> None:
    clock = SimulatedClock(china(2026, 11, 29, 7).astimezone(UTC))
    settings = dataclasses.replace(settings, lease_ttl_s=1.0)
    finished: list[tuple[str, str]] = []
    entered = asyncio.Event()

    def handler_for(replica: str, hang: bool):  # type: ignore[no-untyped-def]
        async def handler(rt: Runtime, period: Period) -> None:
            entered.set()
            if hang:
                await asyncio.sleep(3600)
            finished.append((replica, period.label))

        return handler

    a, b = await _runtime(settings, "replica-a"), await _runtime(settings, "replica-b")
    try:
        schedule = Schedule.parse("daily 06:00")
        runner_a = TimerRunner(a, [Timer("t", schedule, handler_for("a", True))], kv=await a.js.key_value(LEASE_BUCKET),
                               clock=clock)  # fmt: skip
        timer_b = Timer("t", schedule, handler_for("b", False))
        runner_b = TimerRunner(b, [timer_b], kv=await b.js.key_value(LEASE_BUCKET), clock=clock)
        hung = asyncio.create_task(runner_a.tick(runner_a.timers[0]))
        await asyncio.wait_for(entered.wait(), 5)
        await runner_b.tick(timer_b)  # a holds the lease and renews it: b must not run the period
        assert finished == []
        hung.cancel()  # a "dies": its renewals stop with it
        with pytest.raises(asyncio.CancelledError):
            await hung
        deadline = asyncio.get_running_loop().time() + 10
        while not finished and asyncio.get_running_loop().time() < deadline:
            await runner_b.tick(timer_b)
            await asyncio.sleep(0.2)
        assert finished == [("b", "2026-11-29")]
    finally:
        await a.stop()
        await b.stop()


async def test_nothing_runs_for_a_period_after_the_platform_clock(settings: Settings) -> None:
    clock = SimulatedClock(china(2026, 11, 29, 5).astimezone(UTC))
    labels: list[str] = []

    async def handler(rt: Runtime, period: Period) -> None:
        assert period.start <= clock.now()
        labels.append(period.label)

    rt = await _runtime(settings, "replica-a")
    try:
        timer = Timer("t", Schedule.parse("every 1h"), handler)
        runner = TimerRunner(rt, [timer], kv=await rt.js.key_value(LEASE_BUCKET), clock=clock)
        await runner.tick(timer)
        clock.advance(timedelta(minutes=59))
        await runner.tick(timer)
        assert labels == ["2026-11-29T05:00:00"]
        clock.advance(timedelta(minutes=1))
        await runner.tick(timer)
        assert labels == ["2026-11-29T05:00:00", "2026-11-29T06:00:00"]
    finally:
        await rt.stop()
