"""The dispatch meeting's agenda lists the open issues escalated beyond their lead unit, highest level first, naming
each; an issue still with its lead unit, and one resolved, are not on it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from shared.settings import Settings
from tests.issue_coordination.conftest import DEADLINE, Platform
from tests.issue_coordination.quiet import quiet_platform_of
from tests.issue_coordination.test_meeting_decisions import meeting


@pytest.fixture
async def quiet_platform(settings: Settings) -> AsyncIterator[Platform]:
    async with quiet_platform_of(settings) as platform:
        yield platform


async def assigned(p: Platform, project_id: str, description: str) -> str:
    issue_id = await p.raise_issue(project_id, description=description)
    await p.act(issue_id, "assignment", "hq", {"lead_unit_id": "unit-b", "deadline": DEADLINE})
    await p.act(issue_id, "acceptance", "unit-b")
    return issue_id


async def agenda(p: Platform, meeting_id: str) -> list[dict[str, Any]]:
    await p.synced()  # the meeting's events are in scheduling's read model
    r = await p.scheduling.get(f"/v1/meetings/{meeting_id}/agenda", headers=p.h("hq"))
    assert r.status_code == 200, r.text
    items: list[dict[str, Any]] = r.json()["items"]
    return items


async def test_agenda_lists_escalated_issues(quiet_platform: Platform) -> None:
    p = quiet_platform
    project_id = await p.project(name="焦作东站综合枢纽")
    with_lead = await assigned(p, project_id, "施工用电增容未批复")
    at_hq = await assigned(p, project_id, "环评批复待省厅审查")
    at_leader = await assigned(p, project_id, "征地拆迁补偿标准未确定")
    resolved = await assigned(p, project_id, "融资授信未到位")
    await p.act(at_hq, "escalations", "hq", {"reason": "协调不力", "to_level": "hq"})
    for to_level in ("hq", "leader"):
        await p.act(at_leader, "escalations", "hq", {"reason": "需领导协调", "to_level": to_level})
    await p.act(resolved, "escalations", "hq", {"reason": "协调不力", "to_level": "hq"})
    await p.act(resolved, "resolution", "unit-b", {"answer": "授信已批复"})
    await p.synced()

    items = [item for item in await agenda(p, await meeting(p, ["unit-b"])) if item["kind"] == "escalated_issue"]
    assert [item["title"] for item in items] == [
        "已上报问题:焦作东站综合枢纽「征地拆迁补偿标准未确定」", "已上报问题:焦作东站综合枢纽「环评批复待省厅审查」"
    ]  # fmt: skip
    assert items[0]["reasons"][0] == f"问题编号 {at_leader},已上报至包保市领导,尚未解决"
    assert items[1]["reasons"][0] == f"问题编号 {at_hq},已上报至指挥部办公室,尚未解决"
    assert (items[0]["project_id"], items[0]["unit_id"]) == (project_id, "unit-b")
    assert not any(with_lead in reason or resolved in reason for item in items for reason in item["reasons"])
