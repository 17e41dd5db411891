"""A project's life through the API: details, task force, sponsor, phases, progress reports, listings."""

from __future__ import annotations

from tests.intake.conftest import Intake
from tests.platform import auth, project_body


async def _read(intake: Intake, path: str, seq: int, token: str = "hq") -> dict:  # type: ignore[type-arg]
    path, _, query = path.partition("?")
    params = dict(pair.split("=") for pair in query.split("&") if pair) | {"min_seq": str(seq)}
    r = await intake.client.get(path, params=params, headers=auth(intake.tokens[token]))
    assert r.status_code == 200, r.text
    body: dict = r.json()  # type: ignore[type-arg]
    return body


async def test_phases_follow_the_chain_with_suspend_resume_and_reasons(intake: Intake) -> None:
    hq = auth(intake.tokens["hq"])
    r = await intake.client.post("/v1/projects", json=project_body(), headers=hq)
    pid = r.json()["id"]
    steps = [
        ("under_construction", 200, "开工"),
        ("suspended", 200, "汛期停工"),
        ("completed", 409, "跳过恢复"),  # from suspended only back to where it stopped
        ("under_construction", 200, "复工"),
        ("in_operation", 409, "跳过竣工"),
        ("completed", 200, "主体完工验收"),
        ("in_operation", 200, "投产"),
        ("cancelled", 409, "已投产不能取消"),
    ]
    for phase, status, reason in steps:
        r = await intake.client.post(f"/v1/projects/{pid}/phase", json={"phase": phase, "reason": reason}, headers=hq)
        assert r.status_code == status, (phase, r.text)
        if status == 409:
            assert r.json()["errors"][0]["field"] == "phase"
    events = await intake.runtime.store.read_aggregate("project", pid)
    changes = [(e.envelope.payload["from_phase"], e.envelope.payload["to_phase"], e.envelope.payload["reason"])
               for e in events if e.envelope.type == "ProjectPhaseChanged"]  # fmt: skip
    assert changes == [
        ("preliminary", "under_construction", "开工"),
        ("under_construction", "suspended", "汛期停工"),
        ("suspended", "under_construction", "复工"),
        ("under_construction", "completed", "主体完工验收"),
        ("completed", "in_operation", "投产"),
    ]
    body = await _read(intake, f"/v1/projects/{pid}", events[-1].seq)
    assert body["phase"] == "in_operation" and body["version"] == 6


async def test_progress_reports_derive_cumulative_investment_and_record_milestones(intake: Intake) -> None:
    r = await intake.client.post("/v1/projects", json=project_body(), headers=auth(intake.tokens["hq"]))
    pid = r.json()["id"]
    unit = auth(intake.tokens["unit-a"])
    reports = [
        {"period_start": "2024-03-04", "period_end": "2024-03-10", "investment_this_period": "120.5",
         "image_progress_pct": "3", "image_progress_text": "场地平整", "milestones_done": [
             {"name": "用地预审", "done_on": "2024-03-05"}]},
        {"period_start": "2024-03-11", "period_end": "2024-03-17", "investment_this_period": "300",
         "image_progress_pct": "8.5", "image_progress_text": "基础施工",
         "cumulative_investment": "999999"},
    ]  # fmt: skip
    # A client cannot supply the cumulative figure: the field is rejected, not trusted.
    r = await intake.client.post(f"/v1/projects/{pid}/progress-reports", json=reports[1], headers=unit)
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "cumulative_investment"
    del reports[1]["cumulative_investment"]
    seq = 0
    for body in reports:
        r = await intake.client.post(f"/v1/projects/{pid}/progress-reports", json=body, headers=unit)
        assert r.status_code == 201, r.text
        seq = r.json()["seq"]
    project = await _read(intake, f"/v1/projects/{pid}", seq)
    assert project["cumulative_investment"] == "420.5"
    assert project["image_progress_pct"] == "8.5"
    assert project["milestones_done"] == [{"name": "用地预审", "done_on": "2024-03-05"}]
    ledger = (await _read(intake, f"/v1/projects/{pid}/progress-reports", seq))["items"]
    assert [row["cumulative_investment"] for row in ledger] == ["120.5", "420.5"]
    assert {row["reported_by"] for row in ledger} == {"unit-a"}


async def test_amend_task_force_and_sponsor_bump_the_version_and_etag(intake: Intake) -> None:
    hq = auth(intake.tokens["hq"])
    r = await intake.client.post("/v1/projects", json=project_body(), headers=hq)
    pid = r.json()["id"]
    r = await intake.client.patch(
        f"/v1/projects/{pid}", json={"total_investment": "12000", "location": "山阳区"}, headers={**hq, "If-Match": "1"}
    )
    assert r.status_code == 200 and r.json()["version"] == 2 and r.headers["etag"] == '"2"'
    task_force = {"lead": {"name": "王组长", "org_id": "unit-a", "title": "组长"},
                  "members": [{"name": "李成员", "org_id": "unit-b"}]}  # fmt: skip
    r = await intake.client.put(f"/v1/projects/{pid}/task-force", json={"task_force": task_force}, headers=hq)
    assert r.status_code == 200 and r.json()["version"] == 3
    r = await intake.client.put(f"/v1/projects/{pid}/sponsor", json={"sponsor_leader_id": "leader-a"}, headers=hq)
    assert r.status_code == 200
    project = await _read(intake, f"/v1/projects/{pid}", r.json()["seq"])
    assert project["total_investment"] == "12000" and project["location"] == "山阳区"
    assert project["task_force"]["members"][0]["name"] == "李成员"
    assert project["version"] == 4


async def test_listing_filters_and_pages(intake: Intake) -> None:
    hq = auth(intake.tokens["hq"])
    seq = 0
    for i in range(7):
        body = project_body(
            name=f"项目{i}",
            category=["industrial", "infrastructure", "livelihood"][i % 3],
            unit_id="unit-a" if i < 4 else "unit-b",
        )
        r = await intake.client.post("/v1/projects", json=body, headers=hq)
        seq = r.json()["seq"]
    page = await _read(intake, "/v1/projects?limit=3&offset=0", seq)
    assert page["total"] == 7 and len(page["items"]) == 3
    rest = await _read(intake, "/v1/projects?limit=3&offset=6", seq)
    assert len(rest["items"]) == 1
    industrial = await _read(intake, "/v1/projects?category=industrial", seq)
    assert [p["name"] for p in industrial["items"]] == ["项目0", "项目3", "项目6"]
    unit_b = await _read(intake, "/v1/projects?unit_id=unit-b&category=livelihood", seq)
    assert [p["name"] for p in unit_b["items"]] == ["项目5"]
    mine = await _read(intake, "/v1/projects", seq, token="unit-b")
    assert {p["unit_id"] for p in mine["items"]} == {"unit-b"} and mine["total"] == 3
    sponsored = await _read(intake, "/v1/projects", seq, token="leader-a")
    assert sponsored["total"] == 7
    r = await intake.client.get("/v1/projects?phase=flying", headers=hq)
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "query.phase"
