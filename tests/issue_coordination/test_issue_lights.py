"""A project's light follows its issues (docs/adr/0023): escalated to hq the issue dimension turns yellow, to the
sponsoring leader red, with a reason naming the issue (summary and id) and its level; resolved, it turns back.
scheduling learns of the issue only from the log (its own read model) and re-evaluates by its reaction."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from shared.settings import Settings
from tests.issue_coordination.conftest import DEADLINE, Platform
from tests.issue_coordination.quiet import quiet_platform_of
from tests.platform import wait_until


@pytest.fixture
async def reacting_platform(settings: Settings) -> AsyncIterator[Platform]:
    async with quiet_platform_of(settings, react=True) as platform:
        yield platform


async def light(p: Platform, project_id: str) -> dict[str, Any]:
    r = await p.scheduling.get(f"/v1/projects/{project_id}/light", headers=p.h("hq"))
    assert r.status_code == 200, r.text
    found: dict[str, Any] = r.json()
    return found


async def issue_dimension(p: Platform, project_id: str, colour: str) -> dict[str, Any]:
    """The light once its issue dimension shows `colour`: waited for, the reaction re-evaluates within seconds."""
    shown: dict[str, Any] = {}

    async def shows() -> bool:
        shown.update(await light(p, project_id))
        return (shown.get("issues") or {}).get("colour") == colour

    await wait_until(shows, 15, f"the issue dimension to turn {colour}")
    return shown


async def test_light_names_the_escalated_issue_and_turns_back_when_resolved(reacting_platform: Platform) -> None:
    p = reacting_platform
    project_id = await p.project()
    issue_id = await p.raise_issue(project_id, description="征地拆迁补偿标准未确定,影响开工")
    await p.act(issue_id, "assignment", "hq", {"lead_unit_id": "unit-b", "deadline": DEADLINE})
    await p.act(issue_id, "acceptance", "unit-b")
    await p.synced()
    at_lead_unit = await issue_dimension(p, project_id, "green")  # under the default yellow level (hq)
    assert not any(issue_id in reason for reason in at_lead_unit["issues"]["reasons"])

    await p.act(issue_id, "escalations", "hq", {"reason": "责任单位协调不力", "to_level": "hq"})
    yellow = await issue_dimension(p, project_id, "yellow")
    at_hq = f"问题「征地拆迁补偿标准未确定,影响开工」({issue_id})已上报至指挥部办公室,尚未解决"
    assert yellow["issues"]["reasons"] == [at_hq]

    await p.act(issue_id, "escalations", "hq", {"reason": "需包保市领导协调", "to_level": "leader"})
    red = await issue_dimension(p, project_id, "red")
    assert red["colour"] == "red"
    named = f"问题「征地拆迁补偿标准未确定,影响开工」({issue_id})已上报至包保市领导,尚未解决"
    assert red["issues"]["reasons"] == [named]
    assert named in red["reasons"]

    await p.act(issue_id, "resolution", "unit-b", {"answer": "补偿标准已经市政府常务会议确定"})
    resolved = await issue_dimension(p, project_id, "green")
    assert resolved["issues"]["reasons"] == []
    assert named not in resolved["reasons"]
