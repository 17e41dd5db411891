"""What an issue's status does not allow is refused with 409 naming the current status (resolving an unaccepted
issue, confirming twice, the lead passing the issue on, withdrawing after assignment); reassignment goes through a
request hq decides (退回改派), after which the old lead has nothing more to do with the issue."""

from __future__ import annotations

from typing import Any

from tests.issue_coordination.conftest import DEADLINE, Platform


async def refused(platform: Platform, issue_id: str, action: str, org: str, body: dict[str, Any],
                  status: int) -> dict[str, Any]:  # fmt: skip
    r = await platform.issues.post(f"/v1/issues/{issue_id}/{action}", json=body, headers=platform.h(org))
    assert r.status_code == status, (action, org, r.text)
    assert r.headers["content-type"].startswith("application/problem+json")
    problem: dict[str, Any] = r.json()
    return problem


async def assigned(platform: Platform, lead: str = "unit-b") -> str:
    issue_id = await platform.raise_issue(await platform.project())
    await platform.act(issue_id, "assignment", "hq", {"lead_unit_id": lead, "deadline": DEADLINE})
    return issue_id


async def test_bad_transitions_name_the_current_status(platform: Platform) -> None:
    issue_id = await assigned(platform)
    problem = await refused(platform, issue_id, "resolution", "unit-b", {"answer": "已解决"}, 409)
    assert problem["current_status"] == "assigned" and problem["errors"][0]["field"] == "status"
    assert "已交办" in problem["detail"]
    # The lead passing the issue on by itself: a bad transition, pointing to the reassignment request.
    problem = await refused(platform, issue_id, "assignment", "unit-b", {"lead_unit_id": "unit-c",
                                                                         "deadline": DEADLINE}, 409)  # fmt: skip
    assert problem["current_status"] == "assigned" and "reassignment-requests" in problem["detail"]
    # hq assigning twice is a bad transition too; withdrawing after assignment as well.
    problem = await refused(platform, issue_id, "assignment", "hq", {"lead_unit_id": "unit-c", "deadline": DEADLINE},
                            409)  # fmt: skip
    assert problem["current_status"] == "assigned"
    problem = await refused(platform, issue_id, "withdrawal", "unit-a", {"reason": "已自行解决"}, 409)
    assert problem["current_status"] == "assigned"
    await refused(platform, issue_id, "confirmation", "unit-a", {"rating": 5}, 409)
    await refused(platform, issue_id, "rejection", "unit-a", {"reason": "未解决"}, 409)

    await platform.act(issue_id, "acceptance", "unit-b")
    problem = await refused(platform, issue_id, "acceptance", "unit-b", {}, 409)
    assert problem["current_status"] == "accepted"
    await platform.act(issue_id, "resolution", "unit-b", {"answer": "已协调解决"})
    await platform.act(issue_id, "confirmation", "unit-a", {"rating": 5})
    problem = await refused(platform, issue_id, "confirmation", "unit-a", {"rating": 5}, 409)
    assert problem["current_status"] == "confirmed"
    problem = await refused(platform, issue_id, "notes", "unit-b", {"text": "补充说明"}, 409)
    assert problem["current_status"] == "confirmed"
    # Nothing refused was appended: raised, assigned, accepted, resolved, confirmed.
    assert len(await platform.issues_rt.store.read_aggregate("issue", issue_id)) == 5


async def test_withdrawal_only_by_the_raiser_before_assignment(platform: Platform) -> None:
    project_id = await platform.project()
    issue_id = await platform.raise_issue(project_id)
    await refused(platform, issue_id, "withdrawal", "unit-b", {"reason": "撤回"}, 403)  # may not even see it
    await refused(platform, issue_id, "withdrawal", "hq", {"reason": "撤回"}, 403)
    await platform.act(issue_id, "withdrawal", "unit-a", {"reason": "已自行解决"})
    problem = await refused(platform, issue_id, "assignment", "hq", {"lead_unit_id": "unit-b", "deadline": DEADLINE},
                            409)  # fmt: skip
    assert problem["current_status"] == "withdrawn"


async def test_only_the_lead_accepts_resolves_and_asks(platform: Platform) -> None:
    issue_id = await platform.raise_issue(await platform.project())
    await platform.act(issue_id, "assignment", "hq", {"lead_unit_id": "unit-b", "co_handler_ids": ["unit-c"],
                                                      "deadline": DEADLINE})  # fmt: skip
    for org in ("unit-c", "unit-a", "hq"):
        await refused(platform, issue_id, "acceptance", org, {}, 403)
    await platform.act(issue_id, "acceptance", "unit-b")
    for org in ("unit-c", "unit-a"):
        await refused(platform, issue_id, "resolution", org, {"answer": "已解决"}, 403)
        await refused(platform, issue_id, "extension-requests", org,
                      {"requested_deadline": "2024-02-20T18:00:00+08:00", "reason": "需要更多时间"}, 403)  # fmt: skip


async def test_reassignment_goes_through_hq(platform: Platform) -> None:
    issue_id = await assigned(platform)
    await platform.act(issue_id, "acceptance", "unit-b")
    await refused(platform, issue_id, "reassignment-requests", "unit-a", {"reason": "不是本单位职责"}, 403)
    request = await platform.act(issue_id, "reassignment-requests", "unit-b",
                                 {"reason": "不属于本单位职责", "suggested_unit_id": "unit-c"}, expect=201)  # fmt: skip
    problem = await refused(platform, issue_id, "reassignment-requests", "unit-b", {"reason": "再次申请"}, 409)
    assert problem["pending"] == request["request_id"]
    decision = f"reassignment-requests/{request['request_id']}/decision"
    approve = {"decision": "approve", "reason": "同意改派", "lead_unit_id": "unit-c"}
    await refused(platform, issue_id, decision, "unit-b", approve, 403)  # the lead cannot decide its own request
    await refused(platform, issue_id, "reassignment-requests/rr-nope/decision", "hq", approve, 404)
    await refused(platform, issue_id, decision, "hq", {"decision": "approve", "reason": "同意改派"}, 422)
    written = await platform.act(issue_id, decision, "hq", approve)
    issue = await platform.issue(issue_id, min_seq=written["seq"])
    assert (issue["status"], issue["lead_unit_id"], issue["accepted_at"], issue["reassignment_request"]) == (
        "assigned",
        "unit-c",
        None,
        None,
    )
    assert issue["deadline"] is not None and issue["deadline_source"] == "hq"  # the running deadline is kept
    await refused(platform, issue_id, decision, "hq", approve, 409)  # decided already
    await refused(platform, issue_id, "acceptance", "unit-b", {}, 403)  # the old lead has no part in it any more
    await platform.act(issue_id, "acceptance", "unit-c")


async def test_declined_reassignment_leaves_the_lead_in_charge(platform: Platform) -> None:
    issue_id = await assigned(platform)
    request = await platform.act(issue_id, "reassignment-requests", "unit-b", {"reason": "人手不足"}, expect=201)
    await platform.act(issue_id, f"reassignment-requests/{request['request_id']}/decision", "hq",
                       {"decision": "reject", "reason": "属于本单位职责,请继续办理"})  # fmt: skip
    issue = await platform.issue(issue_id, min_seq=(await platform.act(issue_id, "acceptance", "unit-b"))["seq"])
    assert (issue["lead_unit_id"], issue["status"], issue["reassignment_request"]) == ("unit-b", "accepted", None)


async def test_extension_decisions(platform: Platform) -> None:
    issue_id = await assigned(platform)
    body = {"requested_deadline": "2024-01-10T18:00:00+08:00", "reason": "需要更多时间"}
    problem = await refused(platform, issue_id, "extension-requests", "unit-b", body, 422)  # before the deadline
    assert problem["errors"][0]["field"] == "requested_deadline"
    body["requested_deadline"] = "2024-02-10T18:00:00+08:00"
    request = await platform.act(issue_id, "extension-requests", "unit-b", body, expect=201)
    await refused(platform, issue_id, "extension-requests", "unit-b", body, 409)  # one pending at a time
    decision = f"extension-requests/{request['request_id']}/decision"
    written = await platform.act(issue_id, decision, "hq", {"decision": "reject", "reason": "不同意延期"})
    issue = await platform.issue(issue_id, min_seq=written["seq"])
    assert issue["deadline"] == "2024-01-20T18:00:00+08:00" and issue["extension_request"] is None
    await refused(platform, issue_id, decision, "hq", {"decision": "approve", "reason": "同意"}, 409)
