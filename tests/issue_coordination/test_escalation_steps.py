"""`GET /v1/issues/{id}/escalations` against the real servers: the steps in order, one by the ladder (its deadline
missed) and one by hq's hand, each with its levels, reason, who, when, the new deadline and the versions behind it;
read by whoever reads the issue, paged like every list."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import date, datetime
from typing import Any

import pytest

from shared.clock import CHINA
from shared.settings import Settings
from tests.issue_coordination.conftest import Platform
from tests.issue_coordination.quiet import quiet_platform_of


@pytest.fixture
async def hand_run(settings: Settings) -> AsyncIterator[Platform]:
    async with quiet_platform_of(settings) as p:
        yield p


def cst(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=CHINA)


async def steps(p: Platform, issue_id: str, org: str = "hq", expect: int = 200, **params: Any) -> dict[str, Any]:
    r = await p.issues.get(f"/v1/issues/{issue_id}/escalations", params=params, headers=p.h(org))
    assert r.status_code == expect, r.text
    found: dict[str, Any] = r.json()
    return found


async def test_escalation_steps_in_order_with_who_and_the_deadline_behind_each(hand_run: Platform) -> None:
    p = hand_run
    p.clock.set_day(date(2024, 1, 2), hour=8)
    project_id = await p.project()
    issue_id = await p.raise_issue(project_id)
    await p.act(issue_id, "assignment", "hq", {"lead_unit_id": "unit-b", "deadline": "2024-01-03T18:00:00+08:00"})
    await p.synced()
    assert (await steps(p, issue_id))["items"] == []

    p.clock.set_day(date(2024, 1, 5), hour=9)
    r = await p.issues.post("/v1/escalation-runs", json={"day": "2024-01-04"}, headers=p.h("hq"))
    assert r.status_code == 200 and r.json()["escalated"] == [{"issue_id": issue_id, "to_level": "hq"}], r.text
    await p.act(issue_id, "escalations", "hq", {"reason": "影响项目开工"})
    await p.synced()

    found = await steps(p, issue_id)
    assert (found["total"], found["limit"], found["offset"]) == (2, 100, 0)
    ladder, by_hand = found["items"]
    assert ladder["seq"] < by_hand["seq"]
    assert (ladder["from_level"], ladder["to_level"], ladder["by"], ladder["target_org_id"]) == (
        "lead_unit", "hq", "ladder", None,
    )  # fmt: skip
    assert cst("2024-01-03T18:00") == datetime.fromisoformat(ladder["missed_deadline"])
    assert datetime.fromisoformat(ladder["deadline_since"]) == cst("2024-01-03T18:00")
    # hq's 5 working days (seeded rules) from the missed deadline: 01-04, 05, 08, 09, 10.
    assert datetime.fromisoformat(ladder["deadline"]) == cst("2024-01-10T18:00")
    assert (ladder["deadline_source"], ladder["rule_version"], ladder["calendar_version"]) == ("rules", 1, 1)
    assert ladder["reason"].startswith("首接责任单位办理期限 2024-01-03 18:00 已过仍未办结")
    assert (by_hand["from_level"], by_hand["to_level"], by_hand["by"], by_hand["target_org_id"]) == (
        "hq", "leader", "hq", "leader-a",
    )  # fmt: skip
    assert (by_hand["actor_org_id"], by_hand["actor_role"], by_hand["missed_deadline"]) == ("hq", "hq", None)
    assert "影响项目开工" in by_hand["reason"]
    assert datetime.fromisoformat(by_hand["recorded_at"]) == cst("2024-01-05T09:00")
    assert datetime.fromisoformat(by_hand["deadline_since"]) == cst("2024-01-05T09:00")
    issue = await p.issue(issue_id)
    assert (issue["level"], issue["deadline"]) == ("leader", by_hand["deadline"]), "the last step is the issue's"

    # Who reads the issue reads its steps: the raiser, the lead, the sponsoring leader, the auditor; not others.
    for org in ("unit-a", "unit-b", "leader-a", "auditor", "supervision"):
        assert (await steps(p, issue_id, org))["total"] == 2, org
    for org in ("unit-c", "leader-b"):
        await steps(p, issue_id, org, expect=403)
    await steps(p, "iss-unknown", expect=404)
    second = await steps(p, issue_id, limit=1, offset=1)
    assert second["items"] == [by_hand] and second["total"] == 2
