"""Bad input on every field class of intake's write endpoints: a problem naming the field, and nothing written."""

from __future__ import annotations

import json
import re
from datetime import date
from decimal import Decimal
from typing import Any, Final

import httpx
import pytest

from shared.catalogue.scheduling import Milestone, PlanDrafted
from shared.eventstore import Position
from tests.intake.conftest import Intake
from tests.platform import SYSTEM_CTX, auth, project_body

DROP: Final = object()  # in a case's changes: remove the key from the valid base body
CODE: Final = "2024-410802-04-01-000001"  # the national code of the fixture's second project
MAIN: Final = "p-main"  # unit-a's project the PATCH / phase / progress cases target
REPORT: Final[dict[str, Any]] = {
    "period_start": "2024-03-04",
    "period_end": "2024-03-10",
    "investment_this_period": "120.5",
    "image_progress_pct": "3",
    "milestones_done": [{"milestone_id": "m1", "done_on": "2024-03-05"}],
}
BASES: Final[dict[str, tuple[str, str, dict[str, Any]]]] = {
    "register": ("POST", "/v1/projects", project_body()),
    "amend": ("PATCH", f"/v1/projects/{MAIN}", {"name": "新名称"}),
    "phase": ("POST", f"/v1/projects/{MAIN}/phase", {"phase": "under_construction", "reason": "开工"}),
    "progress": ("POST", f"/v1/projects/{MAIN}/progress-reports", REPORT),
}
PLAN: Final = PlanDrafted(
    project_id=MAIN,
    year=2024,
    annual_target_investment=Decimal(100),
    monthly_investment=[Decimal(0)] * 12,
    milestones=[Milestone(milestone_id="m1", name="用地预审", planned_date=date(2024, 3, 31), unit_id="unit-a")],
)
MALFORMED: Final = b'{"name": "unterminated'
OVERSIZED: Final = b'{"name": "' + b"x" * (1024 * 1024) + b'"}'  # over the 1 MB body limit
DEEP: Final = b'{"name": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"  # deeper than any parser recurses
LEAD: Final = {"name": "张三", "org_id": "hq"}
ANNUAL: Final = "annual_planned_investment"
MAX: Final = "9999999999.9999"  # 14 digits, 4 of them decimals: the largest Amount


def case(
    endpoint: str, name: str, changes: dict[str, Any] | bytes, status: int, field: str | None, **headers: bytes
) -> Any:
    return pytest.param(endpoint, changes, status, field, headers, id=f"{endpoint}-{name}")


def milestone(**fields: Any) -> dict[str, Any]:
    return {"milestones_done": [{"milestone_id": "m1", "done_on": "2024-03-05", **fields}]}


CASES: Final = [
    case("register", "missing-name", {"name": DROP}, 422, "name"),
    case("register", "nul-in-name", {"name": "项目\u0000"}, 422, "body"),  # PostgreSQL's text holds no NUL
    case("register", "missing-programme", {"programme_id": DROP}, 422, "programme_id"),
    case("register", "missing-start", {"planned_start": DROP}, 422, "planned_start"),
    case("register", "null-category", {"category": None}, 422, "category"),
    case("register", "int-name", {"name": 123}, 422, "name"),
    case("register", "list-amount", {"total_investment": [1]}, 422, "total_investment"),
    case("register", "bool-amount", {"total_investment": True}, 422, "total_investment"),
    case("register", "str-sub-projects", {"sub_projects": "一期"}, 422, "sub_projects"),
    case("register", "body-array", b"[]", 422, "body"),
    case("register", "enum-category", {"category": "agriculture"}, 422, "category"),
    case("register", "enum-type", {"construction_type": "rebuild"}, 422, "construction_type"),
    case("register", "date-feb30", {"planned_start": "2024-02-30"}, 422, "planned_start"),
    case("register", "date-slashes", {"planned_completion": "2025/12/31"}, 422, "planned_completion"),
    case("register", "negative", {"total_investment": "-1"}, 422, "total_investment"),
    case("register", "5-decimals", {ANNUAL: "1.00001"}, 422, ANNUAL),
    case("register", "15-digits", {"total_investment": "1" + "0" * 14}, 422, "total_investment"),
    case("register", "nan", {"total_investment": "NaN"}, 422, "total_investment"),
    # Money is a decimal string (shared.money): a JSON number, an exponent, a sign or spaces are refused.
    case("register", "number-amount", {"total_investment": 10000}, 422, "total_investment"),
    case("register", "float-amount", {ANNUAL: 4000.5}, 422, ANNUAL),
    case("register", "exponent-amount", {"total_investment": "1E+4"}, 422, "total_investment"),
    case("register", "plus-amount", {"total_investment": "+10000"}, 422, "total_investment"),
    case("register", "spaced-amount", {"total_investment": " 10000"}, 422, "total_investment"),
    case("register", "code-23-chars", {"code": "2024-410802-04-01-00001"}, 422, "code"),
    case("register", "code-letters", {"code": "2024-41080A-04-01-000001"}, 422, "code"),
    case("register", "code-no-dashes", {"code": "202441080204010000010000"}, 422, "code"),
    case("register", "code-1999", {"code": "1999-410802-04-01-000001"}, 422, "code"),
    case("register", "code-2101", {"code": "2101-410802-04-01-000001"}, 422, "code"),
    case("register", "code-division-00", {"code": "2024-000000-04-01-000001"}, 422, "code"),
    case("register", "code-taken", {"code": CODE}, 409, "code"),
    case("register", "extra-field", {"cumulative_investment": "1"}, 422, "cumulative_investment"),
    case("register", "extra-phase", {"phase": "completed"}, 422, "phase"),
    case("register", "extra-nested", {"task_force": {"lead": LEAD | {"rank": 1}}}, 422, "task_force.lead.rank"),
    case("register", "name-201", {"name": "项" * 201}, 422, "name"),
    case("register", "name-blank", {"name": "   "}, 422, "name"),
    case("register", "location-201", {"location": "区" * 201}, 422, "location"),
    case("register", "id-pattern", {"id": "bad id!"}, 422, "id"),
    case("register", "id-65", {"id": "p" * 65}, 422, "id"),
    case("register", "id-taken", {"id": MAIN}, 409, "id"),
    case("register", "programme-pattern", {"programme_id": "prog/1"}, 422, "programme_id"),
    case("register", "51-sub-projects", {"sub_projects": [{"name": "子项"}] * 51}, 422, "sub_projects"),
    case("register", "annual-over-total", {ANNUAL: "10000.0001"}, 422, ANNUAL),
    case("register", "completion-first", {"planned_completion": "2024-02-29"}, 422, "planned_completion"),
    case("register", "unknown-programme", {"programme_id": "prog-z"}, 422, "programme_id"),
    case("register", "unknown-unit", {"unit_id": "unit-z"}, 422, "unit_id"),
    case("register", "unit-not-a-unit", {"unit_id": "hq"}, 422, "unit_id"),
    case("register", "unknown-sponsor", {"sponsor_leader_id": "leader-z"}, 422, "sponsor_leader_id"),
    case("register", "sponsor-not-leader", {"sponsor_leader_id": "unit-a"}, 422, "sponsor_leader_id"),
    case("register", "idempotency-key-201", {}, 400, "Idempotency-Key", Idempotency_Key=b"k" * 201),
    case("register", "malformed-json", MALFORMED, 422, None),
    case("register", "body-over-1mb", OVERSIZED, 413, "body"),
    case("register", "deeply-nested-json", DEEP, 422, "body"),
    case("amend", "empty", {"name": DROP}, 422, "body"),
    case("amend", "list-name", {"name": ["新名称"]}, 422, "name"),
    case("amend", "enum-type", {"construction_type": "demolish"}, 422, "construction_type"),
    case("amend", "date-month-13", {"planned_completion": "2025-13-01"}, 422, "planned_completion"),
    case("amend", "negative", {ANNUAL: "-0.0001"}, 422, ANNUAL),
    case("amend", "5-decimals", {"total_investment": "12000.12345"}, 422, "total_investment"),
    case("amend", "code-short", {"code": "2024-410802-04-01"}, 422, "code"),
    case("amend", "code-2101", {"code": "2101-410802-04-01-000001"}, 422, "code"),
    case("amend", "code-taken", {"code": CODE}, 409, "code"),
    case("amend", "extra-category", {"category": "livelihood"}, 422, "category"),
    case("amend", "extra-unit", {"unit_id": "unit-b"}, 422, "unit_id"),
    case("amend", "name-201", {"name": "项" * 201}, 422, "name"),
    case("amend", "annual-over-total", {ANNUAL: "10001"}, 422, ANNUAL),
    case("amend", "total-under-annual", {"total_investment": "3999"}, 422, ANNUAL),
    case("amend", "completion-first", {"planned_completion": "2024-02-29"}, 422, "planned_completion"),
    case("amend", "start-after-end", {"planned_start": "2026-01-01"}, 422, "planned_completion"),
    case("amend", "if-match-word", {}, 400, "If-Match", If_Match=b"abc"),
    case("amend", "if-match-negative", {}, 400, "If-Match", If_Match=b"-1"),
    case("amend", "malformed-json", MALFORMED, 422, None),
    case("amend", "body-over-1mb", OVERSIZED, 413, "body"),
    case("phase", "missing-phase", {"phase": DROP}, 422, "phase"),
    case("phase", "missing-reason", {"reason": DROP}, 422, "reason"),
    case("phase", "int-phase", {"phase": 2}, 422, "phase"),
    case("phase", "enum-phase", {"phase": "finished"}, 422, "phase"),
    case("phase", "reason-1-char", {"reason": "开"}, 422, "reason"),
    case("phase", "extra-field", {"from_phase": "completed"}, 422, "from_phase"),
    case("phase", "to-completed", {"phase": "completed"}, 409, "phase"),
    case("phase", "to-in-operation", {"phase": "in_operation"}, 409, "phase"),
    case("phase", "to-same", {"phase": "preliminary"}, 409, "phase"),
    case("phase", "if-match-decimal", {}, 400, "If-Match", If_Match=b'"1.0"'),
    case("phase", "if-match-superscript", {}, 400, "If-Match", If_Match="\u00b2".encode("latin-1")),
    case("phase", "malformed-json", MALFORMED, 422, None),
    case("progress", "missing-start", {"period_start": DROP}, 422, "period_start"),
    case("progress", "missing-amount", {"investment_this_period": DROP}, 422, "investment_this_period"),
    case("progress", "missing-pct", {"image_progress_pct": DROP}, 422, "image_progress_pct"),
    case("progress", "object-amount", {"investment_this_period": {"v": 1}}, 422, "investment_this_period"),
    case("progress", "str-milestones", {"milestones_done": "用地预审"}, 422, "milestones_done"),
    case("progress", "date-day-32", {"period_end": "2024-03-32"}, 422, "period_end"),
    case("progress", "date-milestone", milestone(done_on="yesterday"), 422, "milestones_done.0.done_on"),
    case("progress", "negative", {"investment_this_period": "-5"}, 422, "investment_this_period"),
    case("progress", "5-decimals", {"investment_this_period": "1.00001"}, 422, "investment_this_period"),
    case("progress", "number-amount", {"investment_this_period": 120.5}, 422, "investment_this_period"),
    case("progress", "pct-3-decimals", {"image_progress_pct": "3.125"}, 422, "image_progress_pct"),
    case("progress", "pct-over-100", {"image_progress_pct": "100.01"}, 422, "image_progress_pct"),
    case("progress", "pct-negative", {"image_progress_pct": "-1"}, 422, "image_progress_pct"),
    case("progress", "extra-cumulative", {"cumulative_investment": "9"}, 422, "cumulative_investment"),
    case("progress", "extra-report-id", {"report_id": "r1"}, 422, "report_id"),
    case("progress", "extra-nested", milestone(verified_by="hq"), 422, "milestones_done.0.verified_by"),
    case("progress", "milestone-no-id", milestone(milestone_id=""), 422, "milestones_done.0.milestone_id"),
    case(
        "progress",
        "milestone-by-name",
        {"milestones_done": [{"name": "用地预审", "done_on": "2024-03-05"}]},
        422,
        "milestones_done.0.milestone_id",
    ),
    # The project's plan has no milestone m2: a typo is refused, not silently ignored.
    case("progress", "milestone-not-in-plan", milestone(milestone_id="m2"), 422, "milestones_done.0.milestone_id"),
    case("progress", "end-before-start", {"period_end": "2024-03-03"}, 422, "period_end"),
    case("progress", "milestone-late", milestone(done_on="2024-03-11"), 422, "milestones_done.0.done_on"),
    case("progress", "if-match-word", {}, 400, "If-Match", If_Match=b"v1"),
    case("progress", "if-match-5000-digits", {}, 400, "If-Match", If_Match=b"9" * 5000),
    case("progress", "malformed-json", MALFORMED, 422, None),
]


def body_of(endpoint: str, changes: dict[str, Any]) -> dict[str, Any]:
    body = dict(BASES[endpoint][2])
    for key, value in changes.items():
        if value is DROP:
            del body[key]
        else:
            body[key] = value
    return body


async def send(
    intake: Intake,
    endpoint: str,
    changes: dict[str, Any] | bytes,
    headers: dict[str, bytes] | None = None,
    project_id: str = MAIN,
) -> httpx.Response:
    method, url = BASES[endpoint][0], BASES[endpoint][1].replace(MAIN, project_id)
    content = changes if isinstance(changes, bytes) else json.dumps(body_of(endpoint, changes)).encode()
    sent = {**auth(intake.tokens["hq"]), "Content-Type": "application/json"}
    sent |= {k.replace("_", "-"): v for k, v in (headers or {}).items()}  # If_Match -> If-Match
    try:
        r = await intake.client.request(method, url, content=content, headers=sent)
    except Exception as exc:  # the in-process transport re-raises what the server answered with a bare 500
        pytest.fail(f"{method} {url}: unhandled server error (500) instead of a problem answer: {exc!r}")
    await settle(intake)
    return r


async def settle(intake: Intake) -> None:
    """Let the projection apply whatever was written (stopping a busy projection can stall the teardown)."""
    assert await intake.runtime.runner.wait_for(await intake.runtime.store.last_seq(), 5)


async def seed(intake: Intake) -> int:
    """unit-a's project MAIN (version 1, preliminary) with a plan, and a second project holding CODE; the last seq."""
    hq = auth(intake.tokens["hq"])
    for body in (project_body(id=MAIN), project_body(id="p-other", code=CODE)):
        r = await intake.client.post("/v1/projects", json=body, headers=hq)
        assert r.status_code == 201, r.text
    # MAIN's plan with milestone m1, as scheduling appends it (intake learns the plans' milestone ids from the log).
    await intake.runtime.store.append("plan", f"{MAIN}-y2024", PLAN, expected=Position(), context=SYSTEM_CTX)
    await settle(intake)  # reference checks (code taken, milestone ids) read the read model
    return await intake.runtime.store.last_seq()


@pytest.fixture(scope="module")
async def seeded(module_intake: Intake) -> Intake:
    """One intake seeded once for the cases that must write nothing: each checks that the log did not grow, so a
    case that wrongly writes fails itself (and, having changed what the others see, likely some after it)."""
    await seed(module_intake)
    return module_intake


@pytest.mark.parametrize(("endpoint", "changes", "status", "field", "headers"), CASES)
async def test_bad_input_is_a_problem_naming_the_field_and_writes_nothing(
    seeded: Intake,
    endpoint: str,
    changes: dict[str, Any] | bytes,
    status: int,
    field: str | None,
    headers: dict[str, bytes],
) -> None:
    before = await seeded.runtime.store.last_seq()
    r = await send(seeded, endpoint, changes, headers)
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["status"] == status
    if field is not None:
        fields = [e["field"] for e in r.json().get("errors", [])]
        assert any(f == field or f.endswith("." + field) for f in fields), (field, r.text)
    for error in r.json().get("errors", []):  # the field keeps its name; the reason is said in Chinese
        assert re.search(r"[\u4e00-\u9fff]", error["reason"]), (error, r.text)
    assert await seeded.runtime.store.last_seq() == before


CONTROLS: Final = [  # the valid base bodies, and the edges of each rule, accepted
    pytest.param("register", {}, 201, id="register"),
    pytest.param("register", {"code": "2100-410802-04-01-999999", "name": "项" * 200, "total_investment": MAX,
                              ANNUAL: MAX, "planned_completion": "2024-03-01"}, 201, id="register-edges"),
    pytest.param("amend", {}, 200, id="amend"),
    pytest.param("amend", {ANNUAL: "10000", "planned_completion": "2024-03-01"}, 200, id="amend-edges"),
    pytest.param("phase", {}, 200, id="phase"),
    pytest.param("progress", {}, 201, id="progress"),
    pytest.param("progress", {"period_end": "2024-03-04", "image_progress_pct": "100.00",
                              **milestone(done_on="2024-03-04")}, 201, id="progress-edges"),
]  # fmt: skip


@pytest.mark.parametrize(("endpoint", "changes", "status"), CONTROLS)
async def test_positive_control_the_same_shape_is_accepted(
    intake: Intake, endpoint: str, changes: dict[str, Any], status: int
) -> None:
    before = await seed(intake)
    r = await send(intake, endpoint, changes, {"If_Match": b'"1"'} if endpoint != "register" else None)
    assert r.status_code == status, r.text
    appended = 2 if "code" in changes else 1  # a national code is claimed first (docs/adr/0009)
    assert r.json()["seq"] == await intake.runtime.store.last_seq() == before + appended


@pytest.mark.parametrize("project_id", ["*", ">"])
@pytest.mark.parametrize("endpoint", ["amend", "phase", "progress"])
async def test_an_id_that_names_no_project_is_404_even_if_it_is_a_subject_wildcard(
    seeded: Intake, endpoint: str, project_id: str
) -> None:
    before = await seeded.runtime.store.last_seq()
    r = await send(seeded, endpoint, {}, project_id=project_id)
    assert r.status_code == 404, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert await seeded.runtime.store.last_seq() == before


@pytest.mark.parametrize("query", ["programme_id=%00", "programme_id=a%00b", "x%00=1"])
async def test_a_nul_character_in_a_query_is_refused_at_the_edge_naming_the_parameter(
    module_intake: Intake, query: str
) -> None:
    r = await module_intake.client.get(f"/v1/projects?{query}", headers=auth(module_intake.tokens["hq"]))
    assert r.status_code == 422, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["errors"][0]["field"] == "query." + query.split("=")[0].replace("%00", "\x00")
