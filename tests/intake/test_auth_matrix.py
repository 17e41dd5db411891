"""Who may call what on intake: 401 without a valid Bearer token, 403 by role and ownership, revocation."""

from __future__ import annotations

from typing import Any, Final

import httpx
import pytest

from tests.intake.conftest import Intake
from tests.platform import auth, project_body

PID: Final = "p-a"  # unit-a's project, sponsored by leader-a
ROLES: Final = ["admin", "hq", "auditor", "supervision", "leader-a", "unit-a", "unit-b"]
REPORT: Final = {"period_start": "2024-03-04", "period_end": "2024-03-10", "investment_this_period": "1",
                 "image_progress_pct": "3"}  # fmt: skip
P: Final = f"/v1/projects/{PID}"
HQ, OWNER, ADMIN = {"hq"}, {"hq", "unit-a"}, {"admin"}  # policies.py: hq / hq + the responsible unit / admin
# endpoint: (method, path, valid body, status on success, the organisations allowed to call it)
WRITES: Final[dict[str, tuple[str, str, dict[str, Any], int, set[str]]]] = {
    "programme": ("POST", "/v1/programmes", {"id": "prog-2025", "name": "2025 三十工程", "year": 2025}, 201, HQ),
    "project": ("POST", "/v1/projects", project_body(), 201, HQ),
    "amend": ("PATCH", P, {"name": "新名称"}, 200, OWNER),
    "task-force": ("PUT", f"{P}/task-force", {"task_force": {"lead": {"name": "张三", "org_id": "unit-a"}}}, 200, HQ),
    "sponsor": ("PUT", f"{P}/sponsor", {"sponsor_leader_id": "leader-a"}, 200, HQ),
    "phase": ("POST", f"{P}/phase", {"phase": "under_construction", "reason": "开工"}, 200, OWNER),
    "progress": ("POST", f"{P}/progress-reports", REPORT, 201, OWNER),
    "organisation": ("POST", "/v1/organisations", {"id": "unit-c", "name": "机构丙", "role": "unit"}, 201, ADMIN),
    "credential": ("POST", "/v1/organisations/unit-b/credentials", {"label": "备用"}, 201, ADMIN),
}


async def seed(intake: Intake, **overrides: Any) -> int:
    """Register a project (by default PID for unit-a, sponsored by leader-a); wait until it is readable."""
    r = await intake.client.post(
        "/v1/projects", json=project_body(**({"id": PID} | overrides)), headers=auth(intake.tokens["hq"])
    )
    assert r.status_code == 201, r.text
    seq: int = r.json()["seq"]
    assert await intake.runtime.runner.wait_for(seq, 5)
    return seq


async def call(intake: Intake, endpoint: str, headers: dict[str, str]) -> httpx.Response:
    method, path, body, _, _ = WRITES[endpoint]
    return await intake.client.request(method, path, json=body, headers=headers)


@pytest.mark.parametrize(
    ("headers", "challenge"),
    [
        pytest.param({}, "Bearer", id="no-header"),
        pytest.param({"Authorization": "Basic aGF4OmhheA=="}, "Bearer", id="basic-scheme"),
        pytest.param({"Authorization": "Token abc"}, "Bearer", id="token-scheme"),
        pytest.param({"Authorization": "Bearer"}, "Bearer", id="bearer-without-token"),
        pytest.param({"Authorization": "Bearer    "}, "Bearer", id="bearer-blank-token"),
        pytest.param({"Authorization": "Bearer tdu_not-a-real-token"}, 'Bearer error="invalid_token"', id="unknown"),
    ],
)
async def test_without_a_valid_bearer_token_every_endpoint_is_401(
    seeded: Intake, headers: dict[str, str], challenge: str
) -> None:
    intake = seeded
    before = await intake.runtime.store.last_seq()
    reads = [("GET", "/v1/projects"), ("GET", f"/v1/projects/{PID}"), ("GET", "/v1/organisations")]
    for method, path in reads + [(m, p) for m, p, *_ in WRITES.values()]:
        r = await intake.client.request(method, path, json=None if method == "GET" else {}, headers=headers)
        assert r.status_code == 401, (method, path, r.text)
        assert r.headers["www-authenticate"] == challenge, (method, path)
        assert r.headers["content-type"].startswith("application/problem+json")
    assert await intake.runtime.store.last_seq() == before


# Every endpoint against every role: the allowed calls write, so each gets a fresh intake; the refused ones write
# nothing (an auditor's attempt only its access record) and share one.
MATRIX: Final = [(endpoint, role) for endpoint in WRITES for role in ROLES]
ALLOWED: Final = [pytest.param(e, r, id=f"{e}-{r}") for e, r in MATRIX if r in WRITES[e][4]]
REFUSED: Final = [pytest.param(e, r, id=f"{e}-{r}") for e, r in MATRIX if r not in WRITES[e][4]]


@pytest.fixture(scope="module")
async def seeded(module_intake: Intake) -> Intake:
    """One intake with PID registered, for the tests that write nothing else (each checks what it wrote)."""
    await seed(module_intake)
    return module_intake


@pytest.mark.parametrize(("endpoint", "role"), ALLOWED)
async def test_write_matrix_allowed(intake: Intake, endpoint: str, role: str) -> None:
    await seed(intake)
    ok = WRITES[endpoint][3]
    before = await intake.runtime.store.last_seq()
    r = await call(intake, endpoint, auth(intake.tokens[role]))
    # let the projection apply it (stopping a busy projection can stall the teardown)
    assert await intake.runtime.runner.wait_for(await intake.runtime.store.last_seq(), 5)
    assert r.status_code == ok, r.text
    assert await intake.runtime.store.last_seq() == before + 1


@pytest.mark.parametrize(("endpoint", "role"), REFUSED)
async def test_write_matrix_refused(seeded: Intake, endpoint: str, role: str) -> None:
    intake = seeded
    before = await intake.runtime.store.last_seq()
    r = await call(intake, endpoint, auth(intake.tokens[role]))
    assert await intake.runtime.runner.wait_for(await intake.runtime.store.last_seq(), 5)
    assert r.status_code == 403, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    # Nothing written; an auditor's refused attempt is in the access log (ADR 0033), and only that.
    recorded = 1 if role == "auditor" else 0
    assert await intake.runtime.store.last_seq() == before + recorded
    if recorded:
        assert (await intake.runtime.store.get(before + 1)).envelope.type == "AuditorAccessRecorded"


@pytest.mark.parametrize(
    ("role", "status"),
    [("admin", 200), ("hq", 200), ("auditor", 200), ("supervision", 200), ("leader-a", 200), ("unit-a", 200),
     ("unit-b", 403)],
)  # fmt: skip
async def test_reading_a_project_and_its_reports(seeded: Intake, role: str, status: int) -> None:
    intake = seeded
    seq = await intake.runtime.store.last_seq()
    for path in (f"/v1/projects/{PID}", f"/v1/projects/{PID}/progress-reports"):
        r = await intake.client.get(path, params={"min_seq": seq}, headers=auth(intake.tokens[role]))
        assert r.status_code == status, (path, r.text)
        if status == 200 and path.endswith(PID):
            assert r.json()["id"] == PID


async def test_a_leader_reads_only_the_projects_it_sponsors(intake: Intake) -> None:
    seq = await seed(intake, id="p-unsponsored", sponsor_leader_id=None)
    r = await intake.client.get(
        "/v1/projects/p-unsponsored", params={"min_seq": seq}, headers=auth(intake.tokens["leader-a"])
    )
    assert r.status_code == 403, r.text


async def test_listings_are_restricted_to_what_the_caller_may_see(intake: Intake) -> None:
    await seed(intake)
    await seed(intake, id="p-b", unit_id="unit-b", sponsor_leader_id=None)
    seq = await seed(intake, id="p-a2")

    async def listed(role: str, **params: str) -> httpx.Response:
        return await intake.client.get(
            "/v1/projects", params={"min_seq": str(seq), **params}, headers=auth(intake.tokens[role])
        )

    expected = {"unit-a": {PID, "p-a2"}, "unit-b": {"p-b"}, "leader-a": {PID, "p-a2"}, "hq": {PID, "p-a2", "p-b"}}
    for role, ids in expected.items():
        r = await listed(role)
        assert r.status_code == 200, r.text
        assert {p["id"] for p in r.json()["items"]} == ids, role
        assert r.json()["total"] == len(ids), role
    r = await listed("unit-a", unit_id="unit-b")
    assert r.status_code == 403, r.text
    r = await listed("unit-a", unit_id="unit-a")
    assert {p["id"] for p in r.json()["items"]} == {PID, "p-a2"}


async def test_a_revoked_credential_is_refused_once_the_revocation_is_projected(intake: Intake) -> None:
    admin = auth(intake.tokens["admin"])
    r = await intake.client.post("/v1/organisations/unit-b/credentials", json={"label": "轮换"}, headers=admin)
    assert r.status_code == 201, r.text
    issued = r.json()
    assert issued["token"] and issued["credential_id"]
    assert await intake.runtime.runner.wait_for(issued["seq"], 5)
    fresh = auth(issued["token"])
    r = await intake.client.get("/v1/projects", headers=fresh)
    assert r.status_code == 200, r.text

    revoke = f"/v1/organisations/unit-b/credentials/{issued['credential_id']}/revoke"
    before = await intake.runtime.store.last_seq()
    for role in ("hq", "unit-b"):  # only admin revokes, not even the holder's organisation
        r = await intake.client.post(revoke, json={"reason": "试图吊销"}, headers=auth(intake.tokens[role]))
        assert r.status_code == 403, r.text
    assert await intake.runtime.store.last_seq() == before
    r = await intake.client.post(revoke, json={"reason": "离职"}, headers=admin)
    assert r.status_code == 200, r.text
    assert await intake.runtime.runner.wait_for(r.json()["seq"], 5)

    for method, path in (("GET", "/v1/projects"), ("POST", "/v1/projects")):
        r = await intake.client.request(method, path, json=None if method == "GET" else project_body(), headers=fresh)
        assert r.status_code == 401, r.text
        assert r.headers["www-authenticate"] == 'Bearer error="invalid_token"'
    r = await intake.client.get("/v1/projects", headers=auth(intake.tokens["unit-b"]))
    assert r.status_code == 200, "revoking one credential must not revoke the organisation's others"
    r = await intake.client.post(revoke, json={"reason": "重复"}, headers=admin)
    assert r.status_code == 409, r.text
