"""The API conventions, read from issue_coordination's live /openapi.json and checked against its answers: every
operation has a Chinese summary and documents the problem statuses it can answer; every answer is a typed model
(writes `{id, version, seq}`, never a bare array); every list is a documented page, pageable, and answers in one
shape. New endpoints are held to them by walking the document, not by a list of paths."""

from __future__ import annotations

import re
from typing import Any

from tests.issue_coordination.conftest import DEADLINE, Platform
from tests.scheduling.test_api_conventions import PAGE_FIELDS, is_collection, json_answer, operations, resolve

CJK = re.compile(r"[\u4e00-\u9fff]")


async def document(platform: Platform) -> dict[str, Any]:
    r = await platform.issues.get("/openapi.json")
    assert r.status_code == 200, r.text
    found: dict[str, Any] = r.json()
    return found


async def test_every_operation_is_documented_in_chinese_with_typed_answers(platform: Platform) -> None:
    doc = await document(platform)
    ops = operations(doc)
    assert len(ops) >= 17, [f"{m} {p}" for m, p, _ in ops]
    for method, path, op in ops:
        where = f"{method.upper()} {path}"
        assert CJK.search(op.get("summary", "")), f"{where} has no Chinese summary"
        if path.startswith("/v1/audit/"):  # the platform's own rebuild diff: tests/shared/test_rebuild_diff.py
            continue
        answer = json_answer(doc, op)
        assert answer is not None and answer.get("type") == "object", f"{where} answers no typed object"
        assert all(p.get("description") for p in answer["properties"].values()), f"{where}: undocumented fields"
        statuses = set(op["responses"])
        assert {"401", "403", "422", "503"} <= statuses, (where, statuses)
        if method == "post":
            # A run (hq's escalation run of a day) writes many issues: it answers what it did and the seq to wait for.
            written = {"seq"} if path.endswith("-runs") else {"id", "version", "seq"}
            assert written <= set(answer["properties"]), where
            assert {"404", "409", "412", "413"} <= statuses or path == "/v1/issues", (where, statuses)
        for status, response in op["responses"].items():
            if status.startswith(("4", "5")):
                assert "application/problem+json" in response["content"], (where, status)


async def test_every_list_is_a_page(platform: Platform) -> None:
    project_id = await platform.project()
    issue_id = await platform.raise_issue(project_id)
    await platform.raise_issue(project_id, category="funding")
    await platform.act(issue_id, "assignment", "hq", {"lead_unit_id": "unit-b", "deadline": DEADLINE})
    for reason in ("企业反映影响开工", "仍未解决"):  # two steps up the ladder, to page
        await platform.act(issue_id, "escalations", "hq", {"reason": reason})
    rules = {"effective_from": "2024-06-01", "rules": {"default_working_days": 8}}  # a second version to page
    r = await platform.issues.post("/v1/issue-rules", json=rules, headers=platform.h("hq"))
    assert r.status_code == 201, r.text
    await platform.synced()
    orders = []
    for unit in ("unit-b", "unit-c"):  # two orders, on two units (two rows of figures)
        order = {"target_unit_id": unit, "issue_id": issue_id, "subject": "督办", "requirement": "限期整改"}
        r = await platform.issues.post("/v1/supervision-orders", json=order, headers=platform.h("supervision"))
        assert r.status_code == 201, r.text
        orders.append(r.json()["id"])
    r = await platform.issues.post(f"/v1/supervision-orders/{orders[0]}/reminders", json={"text": "请加快"},
                                   headers=platform.h("supervision"))  # fmt: skip
    assert r.status_code == 201, r.text
    await platform.synced()
    doc = await document(platform)
    checked = []
    for method, path, op in operations(doc):
        if method != "get" or not (is_collection(path) or path.endswith("/timeline")):  # a history, like "history"
            continue
        if path == "/v1/issue-figures":  # one report of figures (its path fixed by issue 9), not a list
            continue
        answer = resolve(doc, json_answer(doc, op) or {})
        assert PAGE_FIELDS <= set(answer.get("properties", {})), path
        url = path.format(issue_id=issue_id, order_id=orders[0])
        query = {"period": "2024-01"} if path == "/v1/supervision-figures" else {}
        whole = (await platform.issues.get(url, params=query, headers=platform.h("hq"))).json()
        assert whole["total"] >= 2 and (whole["limit"], whole["offset"]) == (100, 0), (path, whole)
        last = {**query, "limit": 1, "offset": whole["total"] - 1}
        r = await platform.issues.get(url, params=last, headers=platform.h("hq"))
        assert r.json()["items"] == whole["items"][-1:] and r.json()["total"] == whole["total"], path
        r = await platform.issues.get(url, params={**query, "limit": 501}, headers=platform.h("hq"))
        assert r.status_code == 422 and r.json()["errors"][0]["field"] == "query.limit", path
        checked.append(path)
    assert sorted(checked) == [
        "/v1/calendars", "/v1/issue-rules", "/v1/issues", "/v1/issues/{issue_id}/escalations",
        "/v1/issues/{issue_id}/timeline", "/v1/supervision-figures",
        "/v1/supervision-orders", "/v1/supervision-orders/{order_id}/timeline",
    ]  # fmt: skip


async def test_bad_input_names_the_field_in_chinese(platform: Platform) -> None:
    project_id = await platform.project()
    unit = platform.h("unit-a")
    good = {"project_id": project_id, "category": "land", "description": "问题", "help_requested": "协调"}
    for change, field in (({"category": "用地"}, "category"), ({"priority": "high"}, "priority"),
                          ({"description": ""}, "description"), ({"extra": 1}, "extra"),
                          ({"attachments": ["nope"]}, "attachments.0")):  # fmt: skip
        r = await platform.issues.post("/v1/issues", json={**good, **change}, headers=unit)
        assert r.status_code == 422, (change, r.text)
        error = r.json()["errors"][0]
        assert error["field"].removeprefix("body.") == field and CJK.search(error["reason"]), (change, r.text)
    issue_id = await platform.raise_issue(project_id)
    r = await platform.issues.post(f"/v1/issues/{issue_id}/confirmation", json={"rating": 6}, headers=unit)
    assert r.status_code == 422 and r.json()["errors"][0]["field"].endswith("rating"), r.text
    r = await platform.issues.post("/v1/issues/nope/acceptance", json={}, headers=platform.h("unit-b"))
    assert r.status_code == 404, r.text
