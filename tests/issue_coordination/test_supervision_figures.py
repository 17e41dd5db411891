"""Supervision orders' figures (督办统计) on a scripted January 2024, driven by the platform clock: per unit the
orders issued, closed on time, closed late, overdue at the period's end and reminders sent; a week's figures; the
read model rebuilt from the log gives the same rows and the same figures; who may read them."""

from __future__ import annotations

from datetime import date
from typing import Any

from services.issue_coordination.bootstrap import read_model
from services.issue_coordination.supervision_figures import figures_of, period_bounds
from shared.rebuild import diff_schemas, rebuild
from tests.issue_coordination.conftest import Platform

ISSUE_TIMERS = False  # every reminder here is one by hand: the timer would add its own at the moments it polls
ORDERS = "/v1/supervision-orders"


async def step(platform: Platform, path: str, org: str, body: dict[str, Any], expect: int = 200) -> str:
    r = await platform.issues.post(f"{ORDERS}{path}", json=body, headers=platform.h(org))
    assert r.status_code == expect, (path, r.text)
    order_id: str = r.json()["id"]
    return order_id


async def issue(platform: Platform, unit: str, project_id: str, deadline: str) -> str:
    body = {"target_unit_id": unit, "project_id": project_id, "subject": "进度滞后", "requirement": "限期整改",
            "deadline": deadline}  # fmt: skip
    return await step(platform, "", "supervision", body, 201)


async def close(platform: Platform, order_id: str, unit: str) -> None:
    await step(platform, f"/{order_id}/rectification-plan", unit, {"text": "整改方案"})
    await step(platform, f"/{order_id}/rectification-plan/review", "supervision", {"accepted": True})
    await step(platform, f"/{order_id}/closure", "supervision", {"conclusion": "整改到位"})


async def figures(platform: Platform, period: str, org: str = "supervision", **query: str) -> dict[str, Any]:
    r = await platform.issues.get("/v1/supervision-figures", params={"period": period, **query},
                                  headers=platform.h(org))  # fmt: skip
    assert r.status_code == 200, r.text
    found: dict[str, Any] = r.json()
    return found


def by_unit(answer: dict[str, Any]) -> dict[str, tuple[int, ...]]:
    keys = ("issued", "closed_on_time", "closed_late", "overdue", "open", "reminders_sent")
    return {row["unit_id"]: tuple(row[k] for k in keys) for row in answer["items"]}


async def test_figures_on_a_scripted_month_equal_after_a_rebuild(platform: Platform) -> None:
    project_id = await platform.project()
    clock = platform.clock
    clock.set_day(date(2024, 1, 2), 10)
    on_time = await issue(platform, "unit-b", project_id, "2024-01-10T18:00:00+08:00")
    clock.set_day(date(2024, 1, 3), 10)
    late = await issue(platform, "unit-b", project_id, "2024-01-05T18:00:00+08:00")
    clock.set_day(date(2024, 1, 4), 10)
    left_open = await issue(platform, "unit-c", project_id, "2024-01-06T18:00:00+08:00")
    clock.set_day(date(2024, 1, 5), 10)
    for _ in range(2):
        await step(platform, f"/{left_open}/reminders", "supervision", {"text": "请抓紧"}, 201)
    clock.set_day(date(2024, 1, 8), 10)
    await close(platform, on_time, "unit-b")
    clock.set_day(date(2024, 1, 12), 10)
    await step(platform, f"/{late}/reminders", "hq", {"text": "已超期"}, 201)
    await close(platform, late, "unit-b")
    clock.set_day(date(2024, 2, 5), 10)
    await step(platform, f"/{left_open}/reminders", "supervision", {"text": "二月催办"}, 201)
    await platform.synced()

    january = await figures(platform, "2024-01")
    assert by_unit(january) == {"unit-b": (2, 1, 1, 0, 0, 1), "unit-c": (1, 0, 0, 1, 1, 2)}, january
    assert january["as_of"].startswith("2024-02-01T00:00:00")  # the month's end, China time (UTC+8 written)
    assert by_unit(await figures(platform, "2024-02")) == {"unit-c": (0, 0, 0, 1, 1, 1)}
    # ISO week 2024-W01 (01-01 .. 01-07): three issued, none closed yet, the 01-05 deadline passed by its end.
    assert by_unit(await figures(platform, "2024-W01")) == {"unit-b": (2, 0, 0, 1, 2, 0), "unit-c": (1, 0, 0, 1, 1, 2)}
    assert by_unit(await figures(platform, "2024-01", "unit-c")) == {"unit-c": (1, 0, 0, 1, 1, 2)}
    r = await platform.issues.get("/v1/supervision-figures", params={"period": "2024-01", "unit_id": "unit-b"},
                                  headers=platform.h("unit-c"))  # fmt: skip
    assert r.status_code == 403, r.text
    r = await platform.issues.get("/v1/supervision-figures", params={"period": "2024-13"}, headers=platform.h("hq"))
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "query.period", r.text

    rt = platform.issues_rt
    await rebuild(rt.pool, rt.store, read_model(), "issue_coordination_rebuild", until_seq=await rt.store.last_seq())
    assert await diff_schemas(rt.pool, read_model(), rt.schema, "issue_coordination_rebuild") == {}
    async with rt.pool.acquire() as conn:
        rows = await conn.fetchval("SELECT count(*) FROM issue_coordination_rebuild.supervision_order_timeline")
    assert rows == 3 + 4 + 2 * 3  # issued, reminders, plan + review + closure of two: the comparison compared rows
    start, end = period_bounds("2024-01")
    live = await figures_of(rt.pool, rt.schema, start, end, None)
    assert await figures_of(rt.pool, "issue_coordination_rebuild", start, end, None) == live
    assert [f.model_dump() for f in live] == january["items"]
