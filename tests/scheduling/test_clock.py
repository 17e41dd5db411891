"""The development clock (docs/adr/0016): one offset in the lease bucket that every replica follows; hq moves it
forward and the timers catch up period by period, each period once, in order, across replicas."""

from __future__ import annotations

import dataclasses
from contextlib import AsyncExitStack
from datetime import UTC, date, datetime, timedelta

import httpx

from services.intake.bootstrap import create_app as create_intake
from services.scheduling.bootstrap import create_app as create_scheduling
from services.scheduling.domain_monitoring import day_id
from services.scheduling.timers import DAILY_MONITORING
from shared.clock import SimulatedClock
from shared.platform_clock import PlatformClock
from shared.runtime import Runtime
from shared.settings import Settings
from tests.contract.answers import answer_schema, schema_errors
from tests.platform import auth, bootstrap_orgs, running, runtime_of, wait_until

# Before the day's 06:00 monitoring, as make run's demo starts.
START = date(2024, 9, 30)


async def _completed_runs(rt: Runtime, days: list[date]) -> list[tuple[int, date]]:
    """(stream sequence, day) of every MonitoringCompleted of those days, in log order."""
    found = []
    for day in days:
        events = await rt.store.read_aggregate("monitoring", day_id(day))
        found += [(e.seq, day) for e in events if e.envelope.type == "MonitoringCompleted"]
    return sorted(found)


async def test_advance_three_days_runs_three_daily_monitorings_once_each_in_order_across_replicas(
    settings: Settings,
) -> None:
    base = SimulatedClock()
    base.set_day(START, hour=5)
    fast = dataclasses.replace(settings, timer_poll_s=0.2)
    apps = [
        create_scheduling(dataclasses.replace(fast, replica_id=f"scheduling-{n}"), clock=PlatformClock(base))
        for n in (1, 2)
    ]
    intake_app = create_intake(dataclasses.replace(settings, replica_id="intake-1"))
    async with AsyncExitStack() as stack:
        await stack.enter_async_context(running(intake_app))
        a, b = [await stack.enter_async_context(running(app)) for app in apps]
        rt_a, rt_b = runtime_of(apps[0]), runtime_of(apps[1])
        tokens = await bootstrap_orgs(runtime_of(intake_app).store)
        hq = auth(tokens["hq"])
        await wait_until(lambda: _principal_known(a, hq), what="scheduling knows hq's token")
        # At start: the latest due period (06:00 of 29 September), once.
        await wait_until(lambda: _has_runs(rt_a, rt_b, 1), what="the first period")

        r = await a.get("/v1/clock", headers=hq)
        assert r.status_code == 200, r.text
        assert r.json()["date"] == "2024-09-30" and r.json()["simulated"] is True
        assert r.json()["china_time"].startswith("2024-09-30T05:00")
        document = (await a.get("/openapi.json")).json()  # the answers are what the document says they are
        schema = answer_schema(document, "GET", "/v1/clock", 200)
        assert schema is not None and schema_errors(document, schema, r.json()) == []

        r = await a.post("/v1/clock/advance", json={"days": 3}, headers=hq)
        assert r.status_code == 200, r.text
        assert r.json()["date"] == "2024-10-03" and r.json()["offset_seconds"] == 3 * 86400
        schema = answer_schema(document, "POST", "/v1/clock/advance", 200)
        assert schema is not None and schema_errors(document, schema, r.json()) == []

        # Replica b reads the same offset from the bucket, not from a's memory.
        async def b_follows() -> bool:
            return (await b.get("/v1/clock", headers=hq)).json()["date"] == "2024-10-03"

        await wait_until(b_follows, what="replica b sees the advanced clock")
        # And so does every other service's process (intake's runs on the real time as its base).
        intake_clock = runtime_of(intake_app).clock
        assert isinstance(intake_clock, PlatformClock)

        async def intake_follows() -> bool:
            return intake_clock.offset == timedelta(days=3)

        await wait_until(intake_follows, what="intake sees the advanced clock")
        # 30 September, 1 and 2 October: each day's 06:00 has passed on 3 October 05:00; 3 October's has not.
        caught_up = [START, START + timedelta(days=1), START + timedelta(days=2)]
        await wait_until(lambda: _has_runs(rt_a, rt_b, 4), what="three more monitoring periods")
        assert await rt_a.settled(10) and await rt_b.settled(10)
        runs = await _runs(rt_a, rt_b)
        assert runs == ["2024-09-29", *(d.isoformat() for d in caught_up)], runs
        completed = await _completed_runs(rt_a, [START - timedelta(days=1), *caught_up, START + timedelta(days=3)])
        assert [day for _, day in completed] == [START - timedelta(days=1), *caught_up]  # each once, in order


async def _principal_known(client: httpx.AsyncClient, headers: dict[str, str]) -> bool:
    return (await client.get("/v1/clock", headers=headers)).status_code == 200


async def _runs(*runtimes: Runtime) -> list[str]:
    """Periods of the daily monitoring timer that any replica ran, in the order they were recorded as done."""
    labels = [label for rt in runtimes if rt.timers for name, label in rt.timers.runs if name == DAILY_MONITORING]
    return sorted(labels)


async def _has_runs(a: Runtime, b: Runtime, n: int) -> bool:
    return len(await _runs(a, b)) >= n


async def test_the_clock_is_refused_in_production_and_advances_are_bounded(settings: Settings) -> None:
    dev = create_scheduling(dataclasses.replace(settings, replica_id="scheduling-dev"), monitor=False, react=False)
    prod_settings = dataclasses.replace(settings, replica_id="scheduling-prod", environment="production")
    prod = create_scheduling(prod_settings, monitor=False, react=False)
    async with AsyncExitStack() as stack:
        client = await stack.enter_async_context(running(dev))
        production = await stack.enter_async_context(running(prod))
        tokens = await bootstrap_orgs(runtime_of(dev).store)
        hq, unit = auth(tokens["hq"]), auth(tokens["unit-a"])
        await wait_until(lambda: _principal_known(client, hq), what="scheduling knows hq's token")
        await wait_until(lambda: _principal_known(client, unit), what="scheduling knows the unit's token")
        r = await client.get("/v1/clock", headers=hq)
        assert r.json()["simulated"] is False and r.json()["offset_seconds"] == 0
        now = runtime_of(dev).clock.now()
        assert abs(now - datetime.now(UTC)) < timedelta(seconds=5)

        for body, field in (({"days": 8}, "days"), ({"hours": 0}, "body"), ({"days": 7, "hours": 1}, "body")):
            r = await client.post("/v1/clock/advance", json=body, headers=hq)
            assert r.status_code == 422, (body, r.text)
            assert r.headers["content-type"].startswith("application/problem+json")
            assert r.json()["errors"][0]["field"] == field, r.text
        r = await client.post("/v1/clock/advance", json={"hours": 2}, headers=unit)
        assert r.status_code == 403 and r.headers["content-type"].startswith("application/problem+json")
        r = await client.post("/v1/clock/advance", json={"hours": 2}, headers=hq)
        assert r.status_code == 200 and r.json()["offset_seconds"] == 7200 and r.json()["simulated"] is True

        await wait_until(lambda: _principal_known_status(production, hq, 403), what="production's answer")
        for method, path in (("GET", "/v1/clock"), ("POST", "/v1/clock/advance")):
            r = await production.request(method, path, json={"hours": 1} if method == "POST" else None, headers=hq)
            assert r.status_code == 403, r.text
            assert r.headers["content-type"].startswith("application/problem+json") and "开发模式" in r.json()["detail"]
        # Production runs on the real time: the offset the development replica wrote is not read there.
        assert abs(runtime_of(prod).clock.now() - datetime.now(UTC)) < timedelta(seconds=5)


async def _principal_known_status(client: httpx.AsyncClient, headers: dict[str, str], status: int) -> bool:
    return (await client.get("/v1/clock", headers=headers)).status_code == status
