"""The API conventions every operation of intake and scheduling keeps, read from each live service's /openapi.json
and checked against its answers: every list answers one shape ({items, total, limit, offset}, paged), money is one
documented type (a decimal string in 万元), every operation has a Chinese summary, and the programme is called
年度重点项目批次, never 计划. New endpoints are held to them by walking the documents, not by a list of paths.

(Here rather than in tests/contract because it needs data in both services: the scheduling platform fixture.)
"""

from __future__ import annotations

import re
from datetime import date
from typing import Any

import httpx

from shared.money import MONEY_PATTERN
from tests.platform import auth
from tests.scheduling.conftest import Platform
from tests.scheduling.test_plans import plan_body

CJK = re.compile(r"[\u4e00-\u9fff]")
PAGE_FIELDS = {"items", "total", "limit", "offset"}


async def documents(platform: Platform) -> dict[str, tuple[httpx.AsyncClient, dict[str, Any]]]:
    out = {}
    for name, client in (("intake", platform.intake), ("scheduling", platform.scheduling)):
        r = await client.get("/openapi.json")
        assert r.status_code == 200, r.text
        out[name] = (client, r.json())
    return out


def operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(method, path, op) for path, item in document["paths"].items() for method, op in item.items()]


def resolve(document: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = document["components"]["schemas"][schema["$ref"].rsplit("/", 1)[-1]]
    return schema


def json_answer(document: dict[str, Any], op: dict[str, Any]) -> dict[str, Any] | None:
    ok = op["responses"].get("200") or op["responses"].get("201") or {}
    schema = ok.get("content", {}).get("application/json", {}).get("schema")
    return None if schema is None else resolve(document, schema)


def is_collection(path: str) -> bool:
    """A path that names a collection: its last segment is a plural noun (or a history), not an id."""
    last = path.rstrip("/").rsplit("/", 1)[-1]
    return not last.startswith("{") and (last.endswith("s") or last == "history")


async def _data(platform: Platform) -> dict[str, str]:
    """Something in every list: a project with a plan, a report, an exemption, a light, a meeting and a change
    request."""
    hq, unit = auth(platform.tokens["hq"]), auth(platform.tokens["unit-a"])
    pid = await platform.project(planned_start="2024-01-01")
    r = await platform.scheduling.post("/v1/plans", json=plan_body(pid), headers=unit)
    assert r.status_code == 201, r.text
    plan_id = r.json()["id"]
    report = {"period_start": "2024-04-01", "period_end": "2024-04-07", "investment_this_period": "1234.50",
              "image_progress_pct": "5"}  # fmt: skip
    r = await platform.intake.post(f"/v1/projects/{pid}/progress-reports", json=report, headers=unit)
    assert r.status_code == 201, r.text
    await platform.synced()
    exemption = {"scope": "milestone", "milestone_id": "start", "reason": "雨季停工", "evidence": ["气象证明"]}
    r = await platform.scheduling.post(f"/v1/plans/{plan_id}/exemptions", json=exemption, headers=unit)
    assert r.status_code == 201, r.text
    await platform.monitor(date(2024, 5, 6))
    await platform.synced()
    meeting = {
        "kind": "monthly",
        "title": "调度会",
        "scheduled_for": "2024-05-08T09:00:00+08:00",
        "programme_id": "prog",
    }
    r = await platform.scheduling.post("/v1/meetings", json=meeting, headers=hq)
    assert r.status_code == 201, r.text
    change = {"kind": "planned_investment", "reason": "概算调整", "total_investment": "12000.50"}
    r = await platform.intake.post(f"/v1/projects/{pid}/change-requests", json=change, headers=unit)
    assert r.status_code == 201, r.text
    await platform.synced()
    return {"project_id": pid, "plan_id": plan_id}


async def test_every_list_answers_items_and_total_and_pages(platform: Platform) -> None:
    ids = await _data(platform)
    hq = auth(platform.tokens["hq"])
    checked = []
    for name, (client, document) in (await documents(platform)).items():
        for method, path, op in operations(document):
            answer = json_answer(document, op)
            where = f"{name} {method.upper()} {path}"
            assert answer is None or answer.get("type") != "array", f"{where} answers a bare array"
            if method != "get" or not is_collection(path) or answer is None:
                continue
            assert PAGE_FIELDS <= set(answer.get("properties", {})), f"{where} does not document a page"
            params = {p["name"] for p in op.get("parameters", []) if p["in"] == "query"}
            assert {"limit", "offset"} <= params, f"{where} cannot be paged"
            missing = set(re.findall(r"{(\w+)}", path)) - set(ids)
            assert not missing, f"{where}: give this test a value for {missing}"
            url = path.format(**ids)
            r = await client.get(url, headers=hq)
            assert r.status_code == 200, (where, r.text)
            whole = r.json()
            assert PAGE_FIELDS <= set(whole) and whole["total"] >= 1, (where, whole)
            assert len(whole["items"]) == min(whole["total"], 100) and (whole["limit"], whole["offset"]) == (100, 0)
            r = await client.get(url, params={"limit": 1, "offset": whole["total"] - 1}, headers=hq)
            page = r.json()
            assert (page["limit"], page["offset"], page["total"]) == (1, whole["total"] - 1, whole["total"]), where
            assert page["items"] == whole["items"][-1:], where  # the same order, one item
            r = await client.get(url, params={"limit": 0}, headers=hq)
            assert r.status_code == 422 and r.json()["errors"][0]["field"] == "query.limit", where
            checked.append(where)
    assert len(checked) >= 10, checked  # programmes, projects, reports, organisations, plans, exemptions, ...


async def test_every_operation_has_a_chinese_summary_and_says_programme_the_office_way(platform: Platform) -> None:
    for name, (_, document) in (await documents(platform)).items():
        for method, path, op in operations(document):
            where = f"{name} {method.upper()} {path}"
            assert CJK.search(op.get("summary", "")), f"{where} has no Chinese summary: {op.get('summary')!r}"
            for parameter in op.get("parameters", []):
                if parameter["name"] == "programme_id":
                    assert "年度重点项目批次" in parameter.get("description", ""), where
            if op.get("tags") == ["programmes"]:
                assert "年度重点项目批次" in op["summary"] and "计划" not in op["summary"], where


def money_fields(document: dict[str, Any], schema: dict[str, Any], at: str) -> list[tuple[str, dict[str, Any]]]:
    """Every property of a request body that holds an investment (万元), with where it is."""
    schema = resolve(document, schema)
    found = []
    for key, prop in schema.get("properties", {}).items():
        branches = [resolve(document, b) for b in prop.get("anyOf", [prop]) if b.get("type") != "null"]
        for branch in branches:
            if "investment" in key:
                found.append((f"{at}.{key}", {**branch, "description": prop.get("description", "")}))
            elif branch.get("type") == "object":
                found += money_fields(document, branch, f"{at}.{key}")
    return found


async def test_money_is_a_decimal_string_in_wanyuan_in_requests_and_answers(platform: Platform) -> None:
    ids = await _data(platform)
    fields = []
    for _, document in (await documents(platform)).values():
        for method, path, op in operations(document):
            body = op.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema")
            if body is not None:
                fields += money_fields(document, body, f"{method.upper()} {path}")
    names = {where.rsplit(".", 1)[-1] for where, _ in fields}
    assert {"total_investment", "annual_planned_investment", "investment_this_period", "annual_target_investment",
            "monthly_investment"} <= names, names  # fmt: skip
    for where, schema in fields:
        item = schema["items"] if schema.get("type") == "array" else schema
        assert (item.get("type"), item.get("pattern")) == ("string", MONEY_PATTERN), where
        assert "万元" in schema["description"] or "万元" in item.get("description", ""), where

    # What was sent is what is answered: the same string, never a number.
    hq = auth(platform.tokens["hq"])
    project = (await platform.intake.get(f"/v1/projects/{ids['project_id']}", headers=hq)).json()
    # The report awaits hq's review: 累计完成投资 counts accepted reports only, the ledger shows it as pending.
    assert (project["total_investment"], project["cumulative_investment"]) == ("10000", "0"), project
    reports = (await platform.intake.get(f"/v1/projects/{ids['project_id']}/progress-reports", headers=hq)).json()
    assert reports["items"][0]["investment_this_period"] == reports["pending_investment"] == "1234.50"
    plan = (await platform.scheduling.get(f"/v1/plans/{ids['plan_id']}", headers=hq)).json()
    assert plan["annual_target_investment"] == "1200" and plan["monthly_investment"] == ["100"] * 12
    money = re.compile(MONEY_PATTERN)
    for body in (project, reports, *reports["items"], plan):
        for key, value in body.items():
            if "investment" in key:
                values = value if isinstance(value, list) else [value]
                assert all(isinstance(v, str) and money.fullmatch(v) for v in values if v is not None), (key, value)
