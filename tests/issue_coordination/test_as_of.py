"""`?as_of=` on an issue and a supervision order (docs/adr/0031): the state recorded by that moment, folded from
the log with issue_coordination's own fold, overdue judged at that moment; the rule versions published by then."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from tests.issue_coordination.conftest import DEADLINE, Platform

ORDERS = "/v1/supervision-orders"


async def test_issue_and_order_as_of_show_the_earlier_state(platform: Platform) -> None:
    project_id = await platform.project()
    issue_id = await platform.raise_issue(project_id)
    raised_at = platform.clock.now()
    platform.clock.advance(timedelta(hours=2))
    assign = {"lead_unit_id": "unit-b", "deadline": DEADLINE, "note": "请尽快协调"}
    assigned = await platform.act(issue_id, "assignment", "hq", assign)
    live = await platform.issue(issue_id, min_seq=assigned["seq"])
    assert live["status"] == "assigned" and live["version"] == 2

    between = (raised_at + timedelta(hours=1)).isoformat()
    r = await platform.issues.get(f"/v1/issues/{issue_id}", params={"as_of": between}, headers=platform.h("hq"))
    assert r.status_code == 200, r.text
    then = r.json()
    assert then["status"] == "raised" and then["version"] == 1 and then["lead_unit_id"] is None, then
    assert set(then) == set(live) and r.headers["etag"] == '"1"' and "tiaodu-as-of" in r.headers
    before = (raised_at - timedelta(minutes=1)).isoformat()
    r = await platform.issues.get(f"/v1/issues/{issue_id}", params={"as_of": before}, headers=platform.h("hq"))
    assert r.status_code == 404 and "尚不存在" in r.json()["detail"]
    r = await platform.issues.get(f"/v1/issues/{issue_id}", params={"as_of": "soon"}, headers=platform.h("hq"))
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "as_of"
    # Who may read is decided now: an unrelated unit may not look at the past either.
    r = await platform.issues.get(f"/v1/issues/{issue_id}", params={"as_of": between}, headers=platform.h("unit-d"))
    assert r.status_code == 403

    body = {"target_unit_id": "unit-b", "issue_id": issue_id, "subject": "用地指标协调进展缓慢",
            "requirement": "限期报送整改方案并落实", "deadline": DEADLINE}  # fmt: skip
    r = await platform.issues.post(ORDERS, json=body, headers=platform.h("supervision"))
    assert r.status_code == 201, r.text
    order_id = r.json()["id"]
    issued_at = platform.clock.now()
    platform.clock.advance(timedelta(hours=1))
    r = await platform.issues.post(f"{ORDERS}/{order_id}/rectification-plan", json={"text": "一周内完成用地调剂"},
                                   headers=platform.h("unit-b"))  # fmt: skip
    assert r.status_code == 200, r.text
    await platform.synced()
    live_order = (await platform.issues.get(f"{ORDERS}/{order_id}", headers=platform.h("supervision"))).json()
    assert live_order["status"] == "plan_submitted"
    r = await platform.issues.get(
        f"{ORDERS}/{order_id}", params={"as_of": (issued_at + timedelta(minutes=30)).isoformat()},
        headers=platform.h("supervision"),
    )  # fmt: skip
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "issued" and r.json()["version"] == 1 and set(r.json()) == set(live_order)

    # The rule versions as of a moment before any was published: none (the defaults apply).
    rules = await platform.issues.get(
        "/v1/issue-rules", params={"as_of": "2023-12-31T00:00:00+08:00"}, headers=platform.h("hq")
    )
    assert rules.status_code == 200 and rules.json()["items"] == [], rules.text
    now_rules = await platform.issues.get("/v1/issue-rules", headers=platform.h("hq"))
    assert now_rules.json()["total"] >= 1
    r = await platform.issues.get("/v1/issue-rules", params={"as_of": "2099-01-01"}, headers=platform.h("hq"))
    assert r.json()["items"] == now_rules.json()["items"]


async def test_timelines_and_escalations_as_of_list_the_steps_recorded_by_then(platform: Platform) -> None:
    """An issue's and an order's timeline, and the issue's escalation steps, as of a moment: the aggregate's events
    recorded by then, read from the log; the live ledger (read model) and the log agree up to now."""
    project_id = await platform.project()
    issue_id = await platform.raise_issue(project_id)
    raised_at = platform.clock.now()
    platform.clock.advance(timedelta(hours=1))
    await platform.act(issue_id, "assignment", "hq", {"lead_unit_id": "unit-b", "deadline": DEADLINE})
    assigned = platform.clock.now().isoformat()
    platform.clock.advance(timedelta(hours=1))
    await platform.act(issue_id, "escalations", "hq", {"reason": "涉及多个部门,责任单位无法独立协调", "to_level": "hq"})
    body = {"target_unit_id": "unit-b", "issue_id": issue_id, "subject": "用地指标协调进展缓慢",
            "requirement": "限期报送整改方案并落实", "deadline": DEADLINE}  # fmt: skip
    r = await platform.issues.post(ORDERS, json=body, headers=platform.h("supervision"))
    assert r.status_code == 201, r.text
    order_id = r.json()["id"]
    issued = platform.clock.now().isoformat()
    platform.clock.advance(timedelta(hours=1))
    r = await platform.issues.post(f"{ORDERS}/{order_id}/rectification-plan", json={"text": "一周内完成用地调剂"},
                                   headers=platform.h("unit-b"))  # fmt: skip
    assert r.status_code == 200, r.text
    await platform.synced()

    async def page(path: str, **params: str) -> dict[str, Any]:
        r = await platform.issues.get(path, params=params, headers=platform.h("hq"))
        assert r.status_code == 200, r.text
        assert ("tiaodu-as-of" in r.headers) == ("as_of" in params)
        answer: dict[str, Any] = r.json()
        return answer

    timeline = f"/v1/issues/{issue_id}/timeline"
    escalations = f"/v1/issues/{issue_id}/escalations"
    live = await page(timeline)
    assert [e["type"] for e in live["items"]] == ["IssueRaised", "IssueAssigned", "IssueEscalated"]
    then = await page(timeline, as_of=assigned)
    assert then["items"] == live["items"][:2] and then["total"] == 2
    assert (await page(timeline, as_of="2099-01-01")) == live  # up to now: the log and the ledger agree
    assert (await page(timeline, as_of=assigned, limit="1", offset="1"))["items"] == live["items"][1:2]
    assert (await page(escalations, as_of=assigned))["total"] == 0
    steps = await page(escalations)
    assert steps["total"] == 1 and (await page(escalations, as_of="2099-01-01")) == steps

    order_timeline = f"{ORDERS}/{order_id}/timeline"
    live_order = await page(order_timeline)
    assert len(live_order["items"]) == 2
    assert (await page(order_timeline, as_of=issued))["items"] == live_order["items"][:1]

    before = (raised_at - timedelta(minutes=1)).isoformat()
    for path in (timeline, escalations, order_timeline):
        r = await platform.issues.get(path, params={"as_of": before}, headers=platform.h("hq"))
        assert r.status_code == 404 and "尚不存在" in r.json()["detail"], (path, r.text)
        r = await platform.issues.get(path, params={"as_of": "soon"}, headers=platform.h("hq"))
        assert r.status_code == 422 and r.json()["errors"][0]["field"] == "as_of", path
    r = await platform.issues.get(timeline, params={"as_of": assigned}, headers=platform.h("unit-d"))
    assert r.status_code == 403
