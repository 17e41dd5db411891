"""The API conventions every operation of intake and scheduling keeps, read from each live service's /openapi.json
and checked against its answers: every JSON answer has a typed schema (a client can be generated from the document)
and real answers validate against it, every list answers one shape ({items, total, limit, offset}, paged), money is
one documented type (a decimal string in 万元) in requests and answers, every operation has a Chinese summary, and
the programme is called 年度重点项目批次, never 计划. New endpoints are held to them by walking the documents, not by a
list of paths.

(Here rather than in tests/contract because it needs data in both services: the scheduling platform fixture.)
"""

from __future__ import annotations

import re
from datetime import date
from typing import Any

import httpx

from shared.money import MONEY_PATTERN
from tests.contract.answers import JSON, answer_schema, schema_errors, undescribed
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


# A write's answer as the test received it: (service, method, documented path, response).
Written = list[tuple[str, str, str, httpx.Response]]
MONITORED_ON = date(2024, 5, 6)


async def _data(platform: Platform, written: Written | None = None) -> dict[str, str]:
    """Something in every list: a project with a plan, a report, an exemption, a light, a meeting and a change
    request. The answers of the writes are kept in `written`; the ids name what the paths of the reads need."""
    written = [] if written is None else written
    hq, unit = auth(platform.tokens["hq"]), auth(platform.tokens["unit-a"])

    async def write(service: str, path: str, body: dict[str, Any], headers: dict[str, str], **ids: str) -> str:
        client = platform.intake if service == "intake" else platform.scheduling
        r = await client.post(path.format(**ids), json=body, headers=headers)
        assert r.status_code == 201, r.text
        written.append((service, "POST", path, r))
        answer_id: str = r.json()["id"]
        return answer_id

    pid = await platform.project(planned_start="2024-01-01")
    plan_id = await write("scheduling", "/v1/plans", plan_body(pid), unit)
    report = {"period_start": "2024-04-01", "period_end": "2024-04-07", "investment_this_period": "1234.50",
              "image_progress_pct": "5"}  # fmt: skip
    await write("intake", "/v1/projects/{project_id}/progress-reports", report, unit, project_id=pid)
    await platform.synced()
    exemption = {"scope": "milestone", "milestone_id": "start", "reason": "雨季停工", "evidence": ["气象证明"]}
    await write("scheduling", "/v1/plans/{plan_id}/exemptions", exemption, unit, plan_id=plan_id)
    await platform.monitor(MONITORED_ON)
    await platform.synced()
    meeting = {
        "kind": "monthly",
        "title": "调度会",
        "scheduled_for": "2024-05-08T09:00:00+08:00",
        "programme_id": "prog",
    }
    meeting_id = await write("scheduling", "/v1/meetings", meeting, hq)
    change = {"kind": "planned_investment", "reason": "概算调整", "total_investment": "12000.50"}
    change_id = await write("intake", "/v1/projects/{project_id}/change-requests", change, unit, project_id=pid)
    await write("scheduling", "/v1/evaluations", {"programme_id": "prog"}, hq)  # the year-end evaluation so far
    await platform.synced()
    return {"project_id": pid, "plan_id": plan_id, "programme_id": "prog", "meeting_id": meeting_id,
            "change_request_id": change_id, "day": MONITORED_ON.isoformat(), "unit_id": "unit-a"}  # fmt: skip


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


def holds_amount(document: dict[str, Any], name: str, prop: dict[str, Any]) -> bool:
    """Whether a property holds an amount of money by its name or description ('investment' or 'amount' in its
    name, 万元 in its description): not a rate in per cent (投资完成率 `investment_completion_pct`), and not
    objects (a light's `investment` dimension), which are walked into instead."""
    if name.endswith("_pct"):
        return False
    for branch in (resolve(document, b) for b in prop.get("anyOf", [prop]) if b.get("type") != "null"):
        leaf = resolve(document, branch.get("items", {})) if branch.get("type") == "array" else branch
        if leaf.get("type") == "object" or "properties" in leaf or "oneOf" in leaf or "anyOf" in leaf:
            return False
    return "investment" in name or "amount" in name or "万元" in prop.get("description", "")


def money_fields(
    document: dict[str, Any], schema: dict[str, Any], at: str, seen: set[str] | None = None
) -> list[tuple[str, dict[str, Any]]]:
    """Every property, at any depth of a request body or an answer, that holds an amount (`holds_amount`), with
    where it is (a schema the document names is walked once)."""
    seen = set() if seen is None else seen
    ref = schema.get("$ref")
    if ref is not None:
        if ref in seen:
            return []
        seen.add(ref)
        return money_fields(document, resolve(document, schema), at, seen)
    found = []
    for key in ("anyOf", "oneOf", "allOf"):
        for branch in schema.get(key, []):
            found += money_fields(document, branch, at, seen)
    if schema.get("type") == "array":
        found += money_fields(document, schema.get("items", {}), f"{at}[]", seen)
    for name, prop in schema.get("properties", {}).items():
        if holds_amount(document, name, prop):
            found.append((f"{at}.{name}", prop))
        else:
            found += money_fields(document, prop, f"{at}.{name}", seen)
    return found


def is_money(document: dict[str, Any], prop: dict[str, Any]) -> bool:
    """shared.money.Money (or a list of it, or null): a decimal string with the documented pattern, in 万元."""
    for branch in (resolve(document, b) for b in prop.get("anyOf", [prop]) if b.get("type") != "null"):
        item = resolve(document, branch["items"]) if branch.get("type") == "array" else branch
        if (item.get("type"), item.get("pattern")) != ("string", MONEY_PATTERN):
            return False
        if not any("万元" in s.get("description", "") for s in (prop, branch, item)):
            return False
    return True


async def test_money_is_a_decimal_string_in_wanyuan_in_requests_and_answers(platform: Platform) -> None:
    ids = await _data(platform)
    requests, answers = [], []
    for _, document in (await documents(platform)).values():
        for method, path, op in operations(document):
            body = op.get("requestBody", {}).get("content", {}).get(JSON, {}).get("schema")
            if body is not None:
                requests += [(document, *f) for f in money_fields(document, body, f"{method.upper()} {path}")]
            for status, response in op["responses"].items():
                answer = response.get("content", {}).get(JSON, {}).get("schema")
                if status.startswith("2") and answer is not None:
                    answers += [(document, *f) for f in money_fields(document, answer, f"{method.upper()} {path}")]
    names = {where.rsplit(".", 1)[-1] for _, where, _ in requests}
    assert {"total_investment", "annual_planned_investment", "investment_this_period", "annual_target_investment",
            "monthly_investment"} <= names, names  # fmt: skip
    names = {where.rsplit(".", 1)[-1] for _, where, _ in answers}
    assert {"total_investment", "annual_planned_investment", "investment_completed_before", "cumulative_investment",
            "reported_investment", "investment_this_period", "accepted_investment", "pending_investment",
            "investment_before", "investment_accepted", "annual_target_investment", "monthly_investment",
            "baseline_monthly_investment"} <= names, names  # fmt: skip
    for document, where, schema in requests + answers:
        assert is_money(document, schema), (where, schema)

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


# What this platform cannot answer: the clock needs development mode's platform clock (this platform runs on a
# simulated one and answers 403); tests/scheduling/test_clock.py checks its answers against the document. A rebuild
# diff answers 404 until hq runs one (a rebuild of the whole log): tests/shared/test_rebuild_diff.py runs them.
CHECKED_ELSEWHERE = {"/v1/clock", "/v1/audit/rebuild-diffs/intake", "/v1/audit/rebuild-diffs/scheduling"}
# Reads answered in more than one shape, asked once for each.
QUERIES: dict[str, list[dict[str, str]]] = {
    "/v1/projects/{project_id}/light": [{}, {"as_shown_on": MONITORED_ON.isoformat()}],
    "/v1/evaluations/units/{unit_id}": [{"programme_id": "prog", "year": "2024"}],
}


async def test_every_json_answer_has_a_typed_schema(platform: Platform) -> None:
    typed = []
    for name, (_, document) in (await documents(platform)).items():
        for method, path, op in operations(document):
            for status, response in op["responses"].items():
                where = f"{name} {method.upper()} {path} {status}"
                if not status.startswith("2"):
                    continue
                content = response.get("content")
                assert content, f"{where} documents no answer"
                if JSON not in content:  # a file: DOCX, PDF, XLSX, an attachment
                    assert all(c["schema"].get("format") == "binary" for c in content.values()), where
                    continue
                assert undescribed(document, content[JSON].get("schema", {}), where) == [], "untyped answer"
                typed.append(where)
    assert len(typed) >= 50, typed


async def test_real_answers_validate_against_their_documented_schema(platform: Platform) -> None:
    written: Written = []
    ids = await _data(platform, written)
    docs = await documents(platform)
    checked = []
    for service, method, path, r in written:
        document = docs[service][1]
        schema = answer_schema(document, method, path, r.status_code)
        assert schema is not None, f"{service} {method} {path} documents no {r.status_code} answer"
        assert schema_errors(document, schema, r.json()) == [], (service, path, r.text)
        checked.append(f"{method} {path}")
    hq = auth(platform.tokens["hq"])
    for name, (client, document) in docs.items():
        for method, path, _ in operations(document):
            schema = answer_schema(document, method, path, 200)
            if method != "get" or schema is None or path in CHECKED_ELSEWHERE:
                continue
            missing = set(re.findall(r"{(\w+)}", path)) - set(ids)
            assert not missing, f"{name} GET {path}: give this test a value for {missing}"
            for params in QUERIES.get(path, [{}]):
                r = await client.get(path.format(**ids), params=params, headers=hq)
                assert r.status_code == 200, (path, params, r.text)
                assert schema_errors(document, schema, r.json()) == [], (path, params, r.text)
                checked.append(f"GET {path} {params}")
    assert len(checked) >= 25, checked
