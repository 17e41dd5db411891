"""The role matrix of issue 9, against the real services: who sees an issue (its detail, its timeline, the lists)
and who may do what with it.

Project P: unit-a responsible, leader-a sponsoring, unit-d in its task force. Issue I: raised by unit-a, assigned
to unit-b (lead) with unit-c (co-handler). Issue J: raised on P by unit-d (a task-force unit), not assigned.
Sees I: hq, supervision, auditor (all); unit-a (raiser, project's unit); unit-b, unit-c (assigned); leader-a
(sponsor). Not: leader-b, unit-d (task force, but neither raiser nor handler of I), admin.
"""

from __future__ import annotations

from tests.issue_coordination.conftest import DEADLINE, Platform

ORGS = ["hq", "supervision", "auditor", "admin", "leader-a", "leader-b", "unit-a", "unit-b", "unit-c", "unit-d"]
SEES_I = {"hq", "supervision", "auditor", "leader-a", "unit-a", "unit-b", "unit-c"}
SEES_J = {"hq", "supervision", "auditor", "leader-a", "unit-a", "unit-d"}


async def _setup(platform: Platform) -> tuple[str, str, str]:
    task_force = {"lead": {"name": "组长", "org_id": "unit-a"}, "members": [{"name": "成员", "org_id": "unit-d"}]}
    project_id = await platform.project(task_force=task_force)
    issue_i = await platform.raise_issue(project_id)
    await platform.act(issue_i, "assignment", "hq", {"lead_unit_id": "unit-b", "co_handler_ids": ["unit-c"],
                                                     "deadline": DEADLINE})  # fmt: skip
    issue_j = await platform.raise_issue(project_id, org="unit-d", category="labour")
    await platform.synced()
    return project_id, issue_i, issue_j


async def test_who_sees_an_issue(platform: Platform) -> None:
    _, issue_i, issue_j = await _setup(platform)
    for org in ORGS:
        for issue_id, seers in ((issue_i, SEES_I), (issue_j, SEES_J)):
            expected = 200 if org in seers else 403
            for path in (f"/v1/issues/{issue_id}", f"/v1/issues/{issue_id}/timeline"):
                r = await platform.issues.get(path, headers=platform.h(org))
                assert r.status_code == expected, (org, path, r.text)
        r = await platform.issues.get("/v1/issues", headers=platform.h(org))
        assert r.status_code == 200, (org, r.text)
        listed = {item["id"] for item in r.json()["items"]}
        expected_ids = {i for i, seers in ((issue_i, SEES_I), (issue_j, SEES_J)) if org in seers}
        assert listed == expected_ids and r.json()["total"] == len(expected_ids), org
    r = await platform.issues.get("/v1/issues/iss-missing", headers=platform.h("hq"))
    assert r.status_code == 404, r.text


async def test_filters_narrow_within_what_one_sees(platform: Platform) -> None:
    project_id, issue_i, issue_j = await _setup(platform)
    hq = platform.h("hq")

    async def ids(org: str = "hq", **params: str) -> set[str]:
        r = await platform.issues.get("/v1/issues", params=params, headers=platform.h(org))
        assert r.status_code == 200, r.text
        return {item["id"] for item in r.json()["items"]}

    assert await ids(project_id=project_id) == {issue_i, issue_j}
    assert await ids(unit_id="unit-c") == {issue_i} and await ids(unit_id="unit-d") == set()
    assert await ids(status="raised") == {issue_j} and await ids(category="labour") == {issue_j}
    assert await ids(level="lead_unit") == {issue_i}
    assert await ids("unit-b", project_id=project_id) == {issue_i}  # a filter never widens what one sees
    for bad in ({"status": "open"}, {"category": "用地"}, {"level": "x"}, {"project_id": "a b"}, {"overdue": "soon"}):
        r = await platform.issues.get("/v1/issues", params=bad, headers=hq)
        assert r.status_code == 422 and r.json()["errors"][0]["field"].startswith("query."), (bad, r.text)


async def test_who_may_raise(platform: Platform) -> None:
    task_force = {"lead": {"name": "组长", "org_id": "unit-a"}, "members": [{"name": "成员", "org_id": "unit-d"}]}
    project_id = await platform.project(task_force=task_force)
    body = {"project_id": project_id, "category": "other", "description": "问题", "help_requested": "协调"}
    for org in ORGS:
        r = await platform.issues.post("/v1/issues", json=body, headers=platform.h(org))
        assert r.status_code == (201 if org in {"unit-a", "unit-d"} else 403), (org, r.text)
    r = await platform.issues.post("/v1/issues", json={**body, "project_id": "nope"}, headers=platform.h("unit-a"))
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "project_id", r.text


async def test_who_may_act(platform: Platform) -> None:
    """Each action on I against every organisation: only those the issue names may act (the others get 403 before
    anything about the state), and the auditor writes nothing at all."""
    _, issue_i, _ = await _setup(platform)
    # (action, body, who may) — tried in an order that keeps the issue in a state that allows the action
    steps = [
        ("notes", {"text": "进展"}, {"hq", "unit-a", "unit-b", "unit-c"}, 201),
        ("acceptance", {}, {"unit-b"}, 200),  # one acceptance, one question: one org each
        ("information-requests", {"question": "请补充材料"}, {"unit-b"}, 201),
    ]
    for action, body, allowed, ok in steps:
        for org in ORGS:
            if org in allowed:
                continue
            r = await platform.issues.post(f"/v1/issues/{issue_i}/{action}", json=body, headers=platform.h(org))
            assert r.status_code == 403, (action, org, r.text)
        for org in sorted(allowed):
            written = await platform.act(issue_i, action, org, body, expect=ok)
    request_id = written["request_id"]  # the question unit-b asked last
    for org in ORGS:
        if org != "unit-a":
            r = await platform.issues.post(f"/v1/issues/{issue_i}/information-requests/{request_id}/answer",
                                           json={"answer": "材料见附件"}, headers=platform.h(org))  # fmt: skip
            assert r.status_code == 403, (org, r.text)
    await platform.act(issue_i, f"information-requests/{request_id}/answer", "unit-a", {"answer": "材料见附件"})
    for action, body in (("resolution", {"answer": "已解决"}), ("assignment", {"lead_unit_id": "unit-c",
                                                                             "deadline": DEADLINE})):  # fmt: skip
        for org in ("auditor", "supervision", "leader-a", "admin", "unit-d"):
            r = await platform.issues.post(f"/v1/issues/{issue_i}/{action}", json=body, headers=platform.h(org))
            assert r.status_code == 403, (action, org, r.text)
    await platform.act(issue_i, "resolution", "unit-b", {"answer": "已解决"})
    for org in ORGS:
        if org != "unit-a":
            r = await platform.issues.post(f"/v1/issues/{issue_i}/confirmation", json={"rating": 3},
                                           headers=platform.h(org))  # fmt: skip
            assert r.status_code == 403, (org, r.text)
    await platform.act(issue_i, "confirmation", "unit-a", {"rating": 3})
