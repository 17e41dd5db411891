"""Issue events in issue_coordination become notifications in the right inboxes (reaction `notifications`), each
exactly once: with the fixture's runner and two replicas of a second deployment reacting at once, and after that
deployment's reaction position goes back to the start."""

from __future__ import annotations

import dataclasses
from typing import Any

from services.notification.bootstrap import create_app as create_notification
from services.notification.reactions import NOTIFICATIONS
from shared.settings import Settings
from tests.notification.conftest import DEADLINE, Platform
from tests.platform import running, runtime_of

DEPLOYMENT = "notification_two"  # a second deployment's schema: its consumers, leases and read model


async def assigned_and_escalated(platform: Platform) -> str:
    project_id = await platform.project(name="焦作智能装备产业园")
    issue_id = await platform.raise_issue(project_id)
    await platform.act(issue_id, "assignment", "hq",
                       {"lead_unit_id": "unit-b", "co_handler_ids": ["unit-c"], "deadline": DEADLINE})  # fmt: skip
    await platform.act(issue_id, "escalations", "hq", {"reason": "涉及多个部门,责任单位无法独立协调", "to_level": "hq"})
    await platform.synced()
    return issue_id


def titles(page: dict[str, Any]) -> list[tuple[str, str]]:
    return sorted((item["rule_id"], item["title"]) for item in page["items"])


async def test_assignment_and_escalation_reach_the_right_inboxes(platform: Platform) -> None:
    issue_id = await assigned_and_escalated(platform)
    lead = await platform.inbox("unit-b")
    assert titles(lead) == [("issue-assigned", "问题交办:焦作智能装备产业园"),
                            ("issue-escalated", "问题升级至指挥部办公室:焦作智能装备产业园")]  # fmt: skip
    [escalated] = [i for i in lead["items"] if i["rule_id"] == "issue-escalated"]
    assert escalated["urgency"] == "urgent" and escalated["urgency_label"] == "紧急" and not escalated["read"]
    assert (escalated["link_kind"], escalated["link_id"]) == ("issue", issue_id)
    assert "涉及多个部门" in escalated["body"] and escalated["rule_version"] == 1
    assert titles(await platform.inbox("unit-c")) == [("issue-assigned", "问题交办:焦作智能装备产业园")]
    # The raiser hears of the escalation (it is the project's unit), not of the assignment.
    assert [i["rule_id"] for i in (await platform.inbox("unit-a"))["items"]] == ["issue-escalated"]
    # hq escalated it itself: it is not told of its own act; nobody else is concerned.
    for org in ("hq", "leader-a", "supervision", "auditor"):
        assert (await platform.inbox(org))["total"] == 0, org


async def test_one_notification_each_with_three_runners_and_after_a_restart(
    platform: Platform, settings: Settings
) -> None:
    replica = [create_notification(dataclasses.replace(settings, replica_id=f"two-{n}"), clock=platform.clock,
                                   schema=DEPLOYMENT) for n in (1, 2)]  # fmt: skip
    async with running(replica[0]), running(replica[1]):
        await assigned_and_escalated(platform)
        for app in replica:
            assert await runtime_of(app).settled(20)
        await platform.synced()
    await _assert_once(platform)

    rt = platform.notification_rt
    async with rt.pool.acquire() as conn, conn.transaction():
        reset = await conn.execute(f"UPDATE {DEPLOYMENT}._checkpoint SET last_seq = 0 WHERE grp = $1", NOTIFICATIONS)
        await conn.execute(f"DELETE FROM {DEPLOYMENT}._chain WHERE grp = $1", NOTIFICATIONS)
    assert reset.endswith(" 4"), reset
    restarted = create_notification(dataclasses.replace(settings, replica_id="two-3"), clock=platform.clock,
                                    schema=DEPLOYMENT)  # fmt: skip
    async with running(restarted):
        again = runtime_of(restarted)
        assert await again.settled(20)
        [reaction] = [r for r in again.reactions if r.group == NOTIFICATIONS]
        assert reaction.stats.applied >= 2  # it did handle the assignment and the escalation again
    await platform.synced()
    await _assert_once(platform)


async def _assert_once(platform: Platform) -> None:
    """unit-b: assigned + escalated, unit-c: assigned, unit-a: escalated; each one event in the log."""
    rt = platform.notification_rt
    expected = {"unit-a": 1, "unit-b": 2, "unit-c": 1}
    for org, count in expected.items():
        events = await rt.store.read_aggregate("inbox", org)
        assert [e.envelope.type for e in events] == ["NotificationRequested"] * count, org
        assert (await platform.inbox(org))["total"] == count
