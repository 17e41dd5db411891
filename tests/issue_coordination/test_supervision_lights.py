"""A project's light and the meeting agenda follow its open supervision orders (督办): an open order on the project,
or on one of its issues, turns the issue dimension red (the rule's `supervision_order_open_colour`) with a reason
naming the order (subject and id) and its deadline; closed, it turns back. scheduling learns of the orders only from
the log (its own read model, equal after a rebuild) and re-evaluates by its reaction."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from services.scheduling.bootstrap import read_model
from shared.rebuild import diff_schemas, rebuild
from shared.settings import Settings
from tests.issue_coordination.conftest import DEADLINE, Platform
from tests.issue_coordination.quiet import quiet_platform_of
from tests.issue_coordination.test_issue_agenda import agenda
from tests.issue_coordination.test_meeting_decisions import meeting
from tests.platform import wait_until

ORDERS = "/v1/supervision-orders"
LATER = "2024-01-25T18:00:00+08:00"


@pytest.fixture
async def reacting_platform(settings: Settings) -> AsyncIterator[Platform]:
    async with quiet_platform_of(settings, react=True) as platform:
        yield platform


@pytest.fixture
async def quiet_platform(settings: Settings) -> AsyncIterator[Platform]:
    async with quiet_platform_of(settings) as platform:
        yield platform


async def post(p: Platform, path: str, org: str, body: dict[str, Any]) -> dict[str, Any]:
    r = await p.issues.post(f"{ORDERS}{path}", json=body, headers=p.h(org))
    assert r.status_code in (200, 201), (path, org, r.text)
    answer: dict[str, Any] = r.json()
    return answer


async def order(p: Platform, subject: str, deadline: str, **about: str) -> str:
    body = {"target_unit_id": "unit-b", "subject": subject, "requirement": "限期报送整改方案", "deadline": deadline}
    order_id: str = (await post(p, "", "supervision", {**body, **about}))["id"]
    return order_id


async def close(p: Platform, order_id: str) -> None:
    """Plan submitted by the target unit, accepted, then closed (办结销号): the only way an order closes."""
    await post(p, f"/{order_id}/rectification-plan", "unit-b", {"text": "明确责任人,两周内整改到位"})
    await post(p, f"/{order_id}/rectification-plan/review", "supervision", {"accepted": True})
    await post(p, f"/{order_id}/closure", "supervision", {"conclusion": "整改到位,同意销号"})


async def issue_dimension_says(p: Platform, project_id: str, colour: str, reasons: list[str]) -> dict[str, Any]:
    """The light once its issue dimension shows `colour` with exactly `reasons` (the reaction re-evaluates within
    seconds of each step of an order)."""
    shown: dict[str, Any] = {}

    async def says() -> bool:
        r = await p.scheduling.get(f"/v1/projects/{project_id}/light", headers=p.h("hq"))
        if r.status_code == 404:  # not evaluated yet: a reaction behind scheduling's projection evaluates it
            return False
        assert r.status_code == 200, r.text
        shown.update(r.json())
        return shown.get("issues") == {"colour": colour, "reasons": reasons}

    await wait_until(says, 15, f"the issue dimension to turn {colour} with {reasons}")
    return shown


async def test_light_names_open_orders_and_turns_back_when_closed(reacting_platform: Platform) -> None:
    p = reacting_platform
    project_id = await p.project()
    issue_id = await p.raise_issue(project_id, description="施工用电增容未批复")
    await p.synced()
    await issue_dimension_says(p, project_id, "green", [])  # a raised issue alone colours nothing
    on_project = await order(p, "开工进度滞后", DEADLINE, project_id=project_id)
    on_issue = await order(p, "用电增容协调缓慢", LATER, issue_id=issue_id)  # takes the issue's project

    named_project = f"督办单「开工进度滞后」({on_project})待报整改方案,尚未办结,办结期限 2024-01-20 18:00"
    named_issue = f"督办单「用电增容协调缓慢」({on_issue})待报整改方案,尚未办结,办结期限 2024-01-25 18:00"
    red = await issue_dimension_says(p, project_id, "red", [named_project, named_issue])  # earliest deadline first
    assert red["colour"] == "red" and named_project in red["reasons"]

    await close(p, on_project)
    await issue_dimension_says(p, project_id, "red", [named_issue])

    await close(p, on_issue)
    green = await issue_dimension_says(p, project_id, "green", [])
    assert not any("督办单" in reason for reason in green["reasons"])


async def test_agenda_lists_open_orders(quiet_platform: Platform) -> None:
    p = quiet_platform
    project_id = await p.project(name="焦作东站综合枢纽")
    later = await order(p, "站前广场拆迁滞后", LATER, project_id=project_id)
    sooner = await order(p, "开工进度滞后", DEADLINE, project_id=project_id)
    closed = await order(p, "环评报批缓慢", DEADLINE, project_id=project_id)
    await close(p, closed)
    await p.synced()

    items = [item for item in await agenda(p, await meeting(p, ["unit-b"])) if item["kind"] == "supervision_order"]
    assert [item["title"] for item in items] == [
        "督办事项:焦作东站综合枢纽「开工进度滞后」", "督办事项:焦作东站综合枢纽「站前广场拆迁滞后」"
    ]  # fmt: skip
    assert items[0]["reasons"] == [f"督办单编号 {sooner},待报整改方案,尚未办结", "办结期限 2024-01-20 18:00"]
    assert items[1]["reasons"][0] == f"督办单编号 {later},待报整改方案,尚未办结"
    assert (items[0]["project_id"], items[0]["unit_id"]) == (project_id, "unit-b")
    assert not any(closed in reason for item in items for reason in item["reasons"])

    # scheduling's orders follow from the log: rebuilt from sequence 1, its read model equals the live one.
    rt = p.scheduling_rt
    await rebuild(rt.pool, rt.store, read_model(), "scheduling_orders_rebuild", until_seq=await rt.store.last_seq())
    assert await diff_schemas(rt.pool, read_model(), rt.schema, "scheduling_orders_rebuild") == {}
    async with rt.pool.acquire() as conn:
        rows = await conn.fetch("SELECT id, status FROM scheduling_orders_rebuild.project_supervision_orders")
    assert {r["id"]: r["status"] for r in rows} == {later: "issued", sooner: "issued", closed: "closed"}
