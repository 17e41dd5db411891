"""Supervision orders (督办) against the real servers: issued by the supervision office on an issue, closure
refused without an accepted plan (409 naming the status), a plan returned then resubmitted and accepted, a reminder
by hand, closure; the role matrix on reads and writes; each step an event in the order's timeline."""

from __future__ import annotations

from typing import Any

from tests.issue_coordination.conftest import DEADLINE, Platform

ORDERS = "/v1/supervision-orders"


async def post(platform: Platform, path: str, org: str, body: dict[str, Any], expect: int) -> dict[str, Any]:
    r = await platform.issues.post(f"{ORDERS}{path}", json=body, headers=platform.h(org))
    assert r.status_code == expect, (path, org, r.text)
    answer: dict[str, Any] = r.json()
    return answer


async def get(platform: Platform, order_id: str, org: str, min_seq: int = 0) -> dict[str, Any]:
    r = await platform.issues.get(f"{ORDERS}/{order_id}", params={"min_seq": min_seq}, headers=platform.h(org))
    assert r.status_code == 200, r.text
    found: dict[str, Any] = r.json()
    return found


async def test_order_lifecycle_and_closure_needs_an_accepted_plan(platform: Platform) -> None:
    project_id = await platform.project()
    issue_id = await platform.raise_issue(project_id)
    await platform.synced()
    body = {"target_unit_id": "unit-b", "issue_id": issue_id, "subject": "用地指标协调进展缓慢",
            "requirement": "限期报送整改方案并落实", "deadline": DEADLINE}  # fmt: skip
    written = await post(platform, "", "supervision", body, 201)
    order_id = written["id"]
    order = await get(platform, order_id, "unit-b", written["seq"])
    assert (order["status"], order["project_id"], order["issued_by"], order["deadline_source"]) == (
        "issued", project_id, "supervision", "hq"
    )  # fmt: skip

    refused = await post(platform, f"/{order_id}/closure", "supervision", {"conclusion": "已办结"}, 409)
    assert refused["current_status"] == "issued" and refused["errors"][0]["field"] == "rectification_plan"
    await post(platform, f"/{order_id}/rectification-plan", "unit-a", {"text": "方案"}, 403)  # not the target
    await post(platform, f"/{order_id}/rectification-plan", "unit-b", {"text": "一周内完成用地调剂"}, 200)
    refused = await post(platform, f"/{order_id}/closure", "supervision", {"conclusion": "已办结"}, 409)
    assert refused["current_status"] == "plan_submitted"
    await post(platform, f"/{order_id}/rectification-plan/review", "supervision", {"accepted": False}, 422)
    returned = await post(platform, f"/{order_id}/rectification-plan/review", "supervision",
                          {"accepted": False, "reason": "措施不具体"}, 200)  # fmt: skip
    assert (await get(platform, order_id, "supervision", returned["seq"]))["plans_returned"] == 1
    await post(platform, f"/{order_id}/rectification-plan", "unit-b", {"text": "明确责任人与时间节点"}, 200)
    await post(platform, f"/{order_id}/rectification-plan/review", "supervision", {"accepted": True}, 200)
    await post(platform, f"/{order_id}/reminders", "unit-b", {"text": "请加快"}, 403)
    await post(platform, f"/{order_id}/reminders", "hq", {"text": "请加快整改"}, 201)
    await post(platform, f"/{order_id}/closure", "unit-b", {"conclusion": "x"}, 403)
    done = await post(platform, f"/{order_id}/closure", "supervision", {"conclusion": "整改到位,同意销号"}, 200)
    closed = await get(platform, order_id, "auditor", done["seq"])
    assert (closed["status"], closed["status_label"], closed["reminders"], closed["plan"]["accepted"]) == (
        "closed", "已办结", 1, True
    )  # fmt: skip
    again = await post(platform, f"/{order_id}/closure", "supervision", {"conclusion": "再次"}, 409)
    assert again["current_status"] == "closed"

    r = await platform.issues.get(f"{ORDERS}/{order_id}/timeline", headers=platform.h("supervision"))
    assert [e["type"] for e in r.json()["items"]] == [
        "SupervisionOrderIssued", "RectificationPlanSubmitted", "RectificationPlanReviewed",
        "RectificationPlanSubmitted", "RectificationPlanReviewed", "SupervisionOrderReminded", "SupervisionOrderClosed",
    ]  # fmt: skip


async def test_who_may_issue_and_see_orders(platform: Platform) -> None:
    project_id = await platform.project()  # unit-a's project, sponsored by leader-a (tests/platform)
    body = {"target_unit_id": "unit-c", "project_id": project_id, "subject": "开工滞后", "requirement": "限期整改"}
    for org in ("unit-a", "leader-a", "auditor"):
        await post(platform, "", org, body, 403)
    await post(platform, "", "supervision", {**body, "project_id": None}, 422)  # neither issue nor project
    await post(platform, "", "supervision", {**body, "target_unit_id": "hq"}, 422)  # not a unit
    written = await post(platform, "", "hq", body, 201)  # deadline by the rules
    order = await get(platform, written["id"], "supervision", written["seq"])
    assert order["deadline_source"] == "rules" and order["rule_version"] and order["calendar_version"]
    for org in ("unit-c", "unit-a", "leader-a", "auditor", "hq"):
        r = await platform.issues.get(ORDERS, headers=platform.h(org))
        assert r.status_code == 200 and r.json()["total"] == 1, (org, r.text)
    for org in ("unit-b", "leader-b"):
        r = await platform.issues.get(ORDERS, headers=platform.h(org))
        assert r.json()["total"] == 0, org
        r = await platform.issues.get(f"{ORDERS}/{written['id']}", headers=platform.h(org))
        assert r.status_code == 403, org
    r = await platform.issues.get(ORDERS, params={"unit_id": "unit-c", "status": "issued", "overdue": "false"},
                                  headers=platform.h("supervision"))  # fmt: skip
    assert r.json()["total"] == 1
