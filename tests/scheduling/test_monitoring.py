"""Daily monitoring exactly once, lights with reasons and rule versions, history never rewritten, what-if."""

from __future__ import annotations

import asyncio
import dataclasses
from collections import Counter
from datetime import date

from services.scheduling.bootstrap import create_app as create_scheduling
from services.scheduling.domain_monitoring import decide_item, item_event_id
from services.scheduling.monitoring import day_id
from services.scheduling.read_model import MONITORING_DAYS
from shared.catalogue.scheduling import ReportOverdueFlagged
from shared.commands import execute
from shared.envelope import Actor, Role
from shared.eventstore import Context
from shared.settings import Settings
from tests.platform import auth, running, runtime_of, wait_until
from tests.scheduling.conftest import Platform
from tests.scheduling.test_plans import plan_body

CTX = Context(actor=Actor(org_id="platform", role=Role.SYSTEM), correlation_id="test-monitoring")


async def _planned_project(platform: Platform, **overrides: str) -> str:
    pid = await platform.project(**overrides)
    r = await platform.scheduling.post("/v1/plans", json=plan_body(pid), headers=auth(platform.tokens["unit-a"]))
    assert r.status_code == 201, r.text
    await platform.synced()
    return pid


async def test_two_replicas_and_a_late_restart_emit_each_item_once(platform: Platform, settings: Settings) -> None:
    for _ in range(3):
        await _planned_project(platform)
    day = date(2024, 4, 27)  # 开工 due in 3 days; 施工许可 overdue; no reports since the start of the year
    second = create_scheduling(
        dataclasses.replace(settings, replica_id="scheduling-2"), clock=platform.clock, monitor=False
    )
    async with running(second):
        rt2 = runtime_of(second)
        results = await asyncio.gather(
            platform.monitor(day), platform.monitor(day, rt2),
            platform.monitor(day),
        )  # fmt: skip
    assert sum(r.items_emitted for r in results) == 3 * 3  # due soon, overdue, report overdue per project
    later = create_scheduling(
        dataclasses.replace(settings, replica_id="scheduling-3"), clock=platform.clock, monitor=False
    )
    async with running(later):
        again = await platform.monitor(day, runtime_of(later))
    assert again.already_complete and again.items_emitted == 0
    events = await platform.scheduling_rt.store.read_aggregate("monitoring", day_id(day))
    kinds = Counter(e.envelope.type for e in events)
    assert kinds == {"MilestoneDueSoonFlagged": 3, "MilestoneOverdueFlagged": 3, "ReportOverdueFlagged": 3,
                     "MonitoringCompleted": 1}  # fmt: skip
    lights = Counter()
    for pid in {e.envelope.payload.get("project_id") for e in events} - {None}:
        lights[len(await platform.scheduling_rt.store.read_aggregate("light", pid))] += 1
    assert lights == {1: 3}  # one light per project, recorded once despite three runs


async def test_rule_change_never_rewrites_history_and_what_if_compares(platform: Platform) -> None:
    hq = auth(platform.tokens["hq"])
    pid = await _planned_project(platform, planned_start="2024-01-01")
    await platform.intake.post(
        f"/v1/projects/{pid}/phase", json={"phase": "under_construction", "reason": "开工"}, headers=hq
    )
    unit = auth(platform.tokens["unit-a"])
    await platform.intake.post(
        f"/v1/projects/{pid}/progress-reports",
        json={"period_start": "2024-06-17", "period_end": "2024-06-23", "investment_this_period": "440",
              "image_progress_pct": "40", "milestones_done": [{"milestone_id": "permit", "done_on": "2024-03-20"},
                                                             {"milestone_id": "start", "done_on": "2024-04-25"}]},
        headers=unit,
    )  # fmt: skip
    await platform.synced()
    # 2024-06-30: planned 600, done 440 → 13.3 points behind: yellow under v1 (10/30).
    first = await platform.monitor(date(2024, 6, 30))
    assert first.lights_changed == 1
    await platform.synced()
    r = await platform.scheduling.get(f"/v1/projects/{pid}/light", headers=hq)
    light = r.json()
    assert light["colour"] == "yellow" and light["rule_version"] == 1
    assert any("低于序时进度 50% 达 13.3 个百分点" in reason for reason in light["reasons"])
    # Stricter rules from July: 5/12 points.
    r = await platform.scheduling.post(
        "/v1/rules",
        json={"effective_from": "2024-07-01", "note": "从严",
              "rules": {"yellow_points_behind": 5, "red_points_behind": 12}},
        headers=hq,
    )  # fmt: skip
    assert r.status_code == 201, r.text
    await platform.synced()
    r = await platform.scheduling.get(
        f"/v1/projects/{pid}/light/what-if", params={"as_of": "2024-06-30", "rule_version": 2}, headers=hq
    )
    assert r.json()["colour"] == "red" and r.json()["recorded"] is False
    r = await platform.scheduling.get(f"/v1/projects/{pid}/light/what-if", params={"as_of": "2024-06-30"}, headers=hq)
    assert r.json()["colour"] == "yellow" and r.json()["rule_version"] == 1  # as of June, v1 still applies
    await platform.monitor(date(2024, 7, 1))
    await platform.synced()
    history = (await platform.scheduling.get(f"/v1/projects/{pid}/light/history", headers=hq)).json()["items"]
    assert [(h["as_of"], h["colour"], h["rule_version"]) for h in history] == [
        ("2024-06-30", "yellow", 1),
        ("2024-07-01", "red", 2),
    ]
    # As of the end of 30 June (record time): only the change recorded then; before any, an empty history.
    for as_of, expected in (("2024-06-30", history[:1]), ("2024-06-29", [])):
        r = await platform.scheduling.get(f"/v1/projects/{pid}/light/history", params={"as_of": as_of}, headers=hq)
        assert r.status_code == 200 and "tiaodu-as-of" in r.headers, r.text
        assert r.json()["items"] == expected and r.json()["total"] == len(expected), as_of
    r = await platform.scheduling.get(f"/v1/projects/{pid}/light/what-if", params={"rule_version": 9}, headers=hq)
    assert r.status_code == 404


async def test_the_daily_loop_follows_the_injected_clock(platform: Platform, settings: Settings) -> None:
    """The service's own timer: nothing before the configured hour, the day's run after it, the next day next."""
    await _planned_project(platform)
    clock = platform.clock
    clock.set_day(date(2024, 4, 27), hour=5)  # before 06:00 China time
    app = create_scheduling(
        dataclasses.replace(settings, replica_id="scheduling-loop", timer_poll_s=0.02), clock=clock, monitor=True
    )
    async with running(app):
        rt = runtime_of(app)

        async def completed(day: date) -> bool:
            events = await rt.store.read_aggregate("monitoring", day_id(day))
            return any(e.envelope.type == "MonitoringCompleted" for e in events)

        await asyncio.sleep(0.2)  # several polls at 05:00: the loop must not run yet
        assert not await completed(date(2024, 4, 27))
        clock.set_day(date(2024, 4, 27), hour=7)
        await wait_until(lambda: completed(date(2024, 4, 27)), 10, "the 27th's run")
        clock.set_day(date(2024, 4, 28), hour=6)
        await wait_until(lambda: completed(date(2024, 4, 28)), 10, "the 28th's run")


async def test_a_run_cut_short_is_completed_by_the_next_without_repeating_an_item(platform: Platform) -> None:
    pid = await _planned_project(platform)
    day = date(2024, 4, 27)
    rt = platform.scheduling_rt
    # A first run appended one item, then its replica died before the rest.
    first = ReportOverdueFlagged(day=day, project_id=pid, unit_id="unit-a", last_period_end=None, days_since=57)
    await execute(
        pool=rt.pool, store=rt.store, schema=rt.schema, spec=MONITORING_DAYS, aggregate_id=day_id(day),
        decide=lambda state: decide_item(state, first), context=CTX, event_id=item_event_id(day, first),
    )  # fmt: skip
    result = await platform.monitor(day, rt)
    assert result.items_emitted == 2 and not result.already_complete  # due soon and overdue; the report item was there
    kinds = Counter(e.envelope.type for e in await rt.store.read_aggregate("monitoring", day_id(day)))
    assert kinds == {"ReportOverdueFlagged": 1, "MilestoneDueSoonFlagged": 1, "MilestoneOverdueFlagged": 1,
                     "MonitoringCompleted": 1}  # fmt: skip
