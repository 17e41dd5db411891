"""A light evaluated for an earlier day takes the issues and 督办 orders as they stood then (docs/adr/0017, 0023): an
issue escalated to the sponsoring leader on D+2 does not turn the light of D red (what-if, the monitoring run of D
made later), but does on D+2, also after it is resolved; an order closed on D+3 still counts on D+1 with the status
it had then. Rebuilt from sequence 1, scheduling's read model gives the same lights."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import date, timedelta
from typing import Any

import pytest

from services.scheduling.bootstrap import read_model
from services.scheduling.evaluation import evaluate, judged_at
from services.scheduling.monitoring import run_monitoring
from shared.clock import today
from shared.rebuild import diff_schemas, rebuild
from shared.settings import Settings
from tests.issue_coordination.conftest import DEADLINE, Platform
from tests.issue_coordination.quiet import quiet_platform_of
from tests.issue_coordination.test_issue_lights import light
from tests.issue_coordination.test_supervision_lights import LATER, order, post
from tests.scheduling.conftest import MONITOR_CTX

D = date(2024, 1, 8)
DESCRIPTION = "征地拆迁补偿标准未确定,影响开工"


@pytest.fixture
async def quiet_platform(settings: Settings) -> AsyncIterator[Platform]:
    async with quiet_platform_of(settings) as platform:
        yield platform


def day(offset: int) -> date:
    return D + timedelta(days=offset)


def on_day(p: Platform, offset: int) -> None:
    """Move the suite's clock to D+offset, 08:00 China time (everything recorded next is recorded then)."""
    p.clock.set_day(day(offset))


async def what_if(p: Platform, project_id: str, as_of: date) -> dict[str, Any]:
    """The issue dimension of the light computed for `as_of` (not recorded)."""
    r = await p.scheduling.get(
        f"/v1/projects/{project_id}/light/what-if", params={"as_of": as_of.isoformat()}, headers=p.h("hq")
    )
    assert r.status_code == 200, r.text
    issues: dict[str, Any] = r.json()["issues"]
    return issues


def issue_at(issue_id: str, level: str) -> str:
    return f"问题「{DESCRIPTION}」({issue_id})已上报至{level},尚未解决"


def order_named(order_id: str, status: str) -> str:
    return f"督办单「开工进度滞后」({order_id}){status},尚未办结,办结期限 2024-01-25 18:00"


async def test_lights_of_earlier_days_take_issues_and_orders_as_known_then(quiet_platform: Platform) -> None:
    p = quiet_platform
    escalated = await p.project(name="焦作东站综合枢纽")
    supervised = await p.project(name="城区供水管网改造")

    on_day(p, 0)
    issue_id = await p.raise_issue(escalated, description=DESCRIPTION)
    await p.act(issue_id, "assignment", "hq", {"lead_unit_id": "unit-b", "deadline": DEADLINE})
    await p.act(issue_id, "acceptance", "unit-b")
    order_id = await order(p, "开工进度滞后", LATER, project_id=supervised)
    on_day(p, 1)
    await p.act(issue_id, "escalations", "hq", {"reason": "责任单位协调不力", "to_level": "hq"})
    on_day(p, 2)
    await p.act(issue_id, "escalations", "hq", {"reason": "需包保市领导协调", "to_level": "leader"})
    await post(p, f"/{order_id}/rectification-plan", "unit-b", {"text": "明确责任人,两周内整改到位"})
    await p.synced()

    # On D+2, just escalated to the leader: the lights of D and D+1 do not see it, D+2's does.
    at_lead_unit = {"colour": "green", "reasons": []}
    at_hq = {"colour": "yellow", "reasons": [issue_at(issue_id, "指挥部办公室")]}
    at_leader = {"colour": "red", "reasons": [issue_at(issue_id, "包保市领导")]}
    assert await what_if(p, escalated, day(0)) == at_lead_unit
    assert await what_if(p, escalated, day(1)) == at_hq
    assert await what_if(p, escalated, day(2)) == at_leader

    on_day(p, 3)
    await p.act(issue_id, "resolution", "unit-b", {"answer": "补偿标准已经市政府常务会议确定"})
    await post(p, f"/{order_id}/rectification-plan/review", "supervision", {"accepted": True})
    await post(p, f"/{order_id}/closure", "supervision", {"conclusion": "整改到位,同意销号"})
    await p.synced()

    # On D+3, the issue resolved and the order closed: earlier days still show them as they stood then.
    assert await what_if(p, escalated, day(2)) == at_leader
    assert await what_if(p, escalated, day(3)) == at_lead_unit
    before_order = {"colour": "green", "reasons": []}
    issued = {"colour": "red", "reasons": [order_named(order_id, "待报整改方案")]}
    submitted = {"colour": "red", "reasons": [order_named(order_id, "整改方案待审")]}
    assert await what_if(p, supervised, day(-1)) == before_order
    assert await what_if(p, supervised, day(1)) == issued
    assert await what_if(p, supervised, day(2)) == submitted
    assert await what_if(p, supervised, day(3)) == before_order

    # The monitoring of each day, run late (a clock moved on several days), records what that day knew.
    expected = {
        escalated: [at_lead_unit, at_hq, at_leader, at_lead_unit],
        supervised: [issued, issued, submitted, before_order],
    }
    for offset in range(4):
        await run_monitoring(p.scheduling_rt, day(offset), MONITOR_CTX)
        await p.synced()
        for project_id, dimensions in expected.items():
            # The light on record (a day whose light says what the day before said records none).
            assert (await light(p, project_id))["issues"] == dimensions[offset], (project_id, day(offset))

    # Rebuilt from sequence 1 (the steps' ledgers with it), scheduling's read model gives the same lights.
    rt = p.scheduling_rt
    await rebuild(rt.pool, rt.store, read_model(), "scheduling_as_known_rebuild", until_seq=await rt.store.last_seq())
    assert await diff_schemas(rt.pool, read_model(), rt.schema, "scheduling_as_known_rebuild") == {}
    now = p.clock.now()
    assert today(p.clock) == day(3)
    async with rt.pool.acquire() as conn:
        for offset in range(-1, 4):
            at = judged_at(day(offset), now)
            live = await evaluate(conn, rt.schema, day(offset), at=at)
            rebuilt = await evaluate(conn, "scheduling_as_known_rebuild", day(offset), at=at)
            assert [(e.project.id, e.light) for e in rebuilt] == [(e.project.id, e.light) for e in live]
            shown = {e.project.id: e.light.issues.model_dump(mode="json") for e in rebuilt}
            if offset >= 0:
                assert {pid: dims[offset] for pid, dims in expected.items()} == {pid: shown[pid] for pid in expected}

        # An order whose first steps were folded before its ledger was kept (here: struck from the scratch copy) is
        # taken as its current row, as before the ledger: closed now, it no longer counts on D+1.
        await conn.execute("DELETE FROM scheduling_as_known_rebuild.supervision_order_steps WHERE seq = ("
                           " SELECT min(seq) FROM scheduling_as_known_rebuild.supervision_order_steps)")  # fmt: skip
        [legacy] = await evaluate(conn, "scheduling_as_known_rebuild", day(1), project_ids=[supervised], at=now)
        assert legacy.light.issues.model_dump(mode="json") == before_order
