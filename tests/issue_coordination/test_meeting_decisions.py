"""Each decision (议定事项) of a dispatch meeting becomes exactly one tracked item, an issue assigned to the decision's
owner (reaction `meeting_decisions`): with several reaction runners at once and after a restart that handles every
decision again. A decision about no project is tracked for its owner alone.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from services.issue_coordination.bootstrap import create_app as create_issue_coordination
from services.issue_coordination.domain import decision_item_id
from services.issue_coordination.reactions import MEETING_DECISIONS
from shared.settings import Settings
from tests.issue_coordination.conftest import Platform
from tests.platform import running, runtime_of

DEPLOYMENT = "issue_coordination_two"  # a second deployment's schema: its consumers, leases and read model


async def meeting(platform: Platform, attendees: list[str]) -> str:
    body = {"kind": "monthly", "title": "1月市级调度会", "scheduled_for": "2024-01-10T09:00:00+08:00",
            "programme_id": "prog"}  # fmt: skip
    r = await platform.scheduling.post("/v1/meetings", json=body, headers=platform.h("hq"))
    assert r.status_code == 201, r.text
    meeting_id: str = r.json()["id"]
    people = {"attendees": [{"org_id": org, "name": org} for org in attendees]}
    r = await platform.scheduling.post(f"/v1/meetings/{meeting_id}/attendance", json=people, headers=platform.h("hq"))
    assert r.status_code == 200, r.text
    return meeting_id


async def decide(platform: Platform, meeting_id: str, text: str, owner: str, project_id: str | None = None) -> str:
    body: dict[str, Any] = {"text": text, "owner_unit_id": owner, "deadline": "2024-01-31", "project_id": project_id}
    r = await platform.scheduling.post(f"/v1/meetings/{meeting_id}/decisions", json=body, headers=platform.h("hq"))
    assert r.status_code == 201, r.text
    decision_id: str = r.json()["decision_id"]
    return decision_id


async def test_each_decision_is_one_item_with_three_runners_and_after_a_restart(
    platform: Platform, settings: Settings
) -> None:
    """The fixture's service and two replicas of a second deployment all react to the same decisions; then both
    replicas stop, the deployment's reaction position goes back to the start (checkpoints and chain heads, as after a
    crash before any commit)
    and a new replica handles every decision again. Each decision still has one item, with one event."""
    project_id = await platform.project()
    replica = [create_issue_coordination(dataclasses.replace(settings, replica_id=f"two-{n}"), clock=platform.clock,
                                         schema=DEPLOYMENT) for n in (1, 2)]  # fmt: skip
    async with running(replica[0]), running(replica[1]):
        meeting_id = await meeting(platform, ["unit-b"])
        decisions = [await decide(platform, meeting_id, f"第{n}项议定事项", "unit-a", project_id) for n in range(3)]
        decisions.append(await decide(platform, meeting_id, "梳理用地需求清单", "unit-b"))
        for app in replica:
            assert await runtime_of(app).settled(20)
        await platform.synced()
    await _assert_one_item_each(platform, meeting_id, decisions)

    rt = platform.issues_rt
    async with rt.pool.acquire() as conn, conn.transaction():  # the reaction's position: checkpoint and chain heads
        reset = await conn.execute(
            f"UPDATE {DEPLOYMENT}._checkpoint SET last_seq = 0 WHERE grp = $1", MEETING_DECISIONS
        )
        await conn.execute(f"DELETE FROM {DEPLOYMENT}._chain WHERE grp = $1", MEETING_DECISIONS)
    assert reset.endswith(" 4"), reset  # one row per partition
    restarted = create_issue_coordination(dataclasses.replace(settings, replica_id="two-3"), clock=platform.clock,
                                          schema=DEPLOYMENT)  # fmt: skip
    async with running(restarted):
        again = runtime_of(restarted)
        assert await again.settled(20)
        [reaction] = again.reactions
        assert reaction.stats.applied >= len(decisions)  # it did handle every decision again
    await platform.synced()
    await _assert_one_item_each(platform, meeting_id, decisions)


async def _assert_one_item_each(platform: Platform, meeting_id: str, decisions: list[str]) -> None:
    rt = platform.issues_rt
    for decision_id in decisions:
        events = await rt.store.read_aggregate("issue", decision_item_id(meeting_id, decision_id))
        assert [e.envelope.type for e in events] == ["MeetingDecisionTracked"], decision_id
    async with rt.pool.acquire() as conn:
        tracked = await conn.fetchval(f"SELECT count(*) FROM {rt.schema}.issues WHERE origin = 'meeting_decision'")
    assert tracked == len(decisions)


async def test_a_tracked_decision_follows_the_issue_lifecycle(platform: Platform) -> None:
    project_id = await platform.project()
    meeting_id = await meeting(platform, ["unit-b"])
    with_project = await decide(platform, meeting_id, "1月底前完成用地手续", "unit-a", project_id)
    alone = await decide(platform, meeting_id, "梳理全市用地需求清单", "unit-b")
    await platform.synced()
    item = await platform.issue(decision_item_id(meeting_id, with_project), "leader-a")  # the sponsor sees it
    assert (item["origin"], item["status"], item["lead_unit_id"], item["level"]) == (
        "meeting_decision",
        "assigned",
        "unit-a",
        "lead_unit",
    )
    assert (item["project_id"], item["programme_id"], item["raised_by"], item["decision_id"]) == (
        project_id,
        "prog",
        "hq",
        with_project,
    )
    assert item["deadline"] == "2024-01-31T23:59:59+08:00" and item["description"] == "1月底前完成用地手续"

    item_id = decision_item_id(meeting_id, alone)
    own = await platform.issues.get("/v1/issues", params={"unit_id": "unit-b"}, headers=platform.h("unit-b"))
    assert [i["id"] for i in own.json()["items"]] == [item_id]
    assert (await platform.issue(item_id, "unit-b"))["project_id"] is None
    for org in ("unit-a", "leader-a", "unit-c"):  # about no project: its owner's (and the wide readers') alone
        r = await platform.issues.get(f"/v1/issues/{item_id}", headers=platform.h(org))
        assert r.status_code == 403, (org, r.text)
    await platform.act(item_id, "acceptance", "unit-b")
    await platform.act(item_id, "resolution", "unit-b", {"answer": "清单已报指挥部办公室"})
    r = await platform.issues.post(
        f"/v1/issues/{item_id}/confirmation", json={"rating": 5}, headers=platform.h("unit-b")
    )
    assert r.status_code == 403, r.text  # who recorded the decision confirms, not its owner
    done = await platform.act(item_id, "confirmation", "hq", {"rating": 5})
    assert (await platform.issue(item_id, min_seq=done["seq"]))["status"] == "confirmed"
