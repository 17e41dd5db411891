"""A routing rule may address a named person of each recipient organisation (a unit's 联络员): the notification names
that person, so the delivery engine tries the person's contact points first (test_delivery_targets.py)."""

from __future__ import annotations

from shared.catalogue.notification_rules import LIAISON, default_rules
from shared.clock import CHINA
from tests.notification.conftest import DEADLINE, Platform


def test_the_default_rules_send_a_missing_report_to_the_units_liaison() -> None:
    rules = {rule.rule_id: rule for rule in default_rules()}
    assert rules["report-missing"].person == LIAISON == "联络员"
    assert rules["issue-assigned"].person is None  # the organisation itself, as before


async def test_a_rule_naming_the_liaison_gives_the_notification_that_person(platform: Platform) -> None:
    n = platform.notification
    current = (await n.get("/v1/routing-rules", headers=platform.h("hq"))).json()["items"][0]["rules"]["rules"]
    rules = [rule | {"person": LIAISON} if rule["rule_id"] == "issue-assigned" else rule for rule in current]
    today = platform.clock.now().astimezone(CHINA).date().isoformat()
    r = await n.post("/v1/routing-rules", json={"effective_from": today, "rules": rules}, headers=platform.h("hq"))
    assert r.status_code == 201, r.text
    await platform.synced()
    issue_id = await platform.raise_issue(await platform.project(name="焦作智能装备产业园"))
    await platform.act(issue_id, "assignment", "hq",
                       {"lead_unit_id": "unit-b", "co_handler_ids": ["unit-c"], "deadline": DEADLINE})  # fmt: skip
    await platform.synced()
    for org in ("unit-b", "unit-c"):
        [item] = (await platform.inbox(org))["items"]
        assert (item["rule_id"], item["person"], item["rule_version"]) == ("issue-assigned", LIAISON, 2), item
    # Rules without a person route to the organisation itself, as before.
    bad = [rule | {"person": ""} for rule in current]
    r = await n.post("/v1/routing-rules", json={"effective_from": today, "rules": bad}, headers=platform.h("hq"))
    assert r.status_code == 422 and "person" in r.text, r.text
