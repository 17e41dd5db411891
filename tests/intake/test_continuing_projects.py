"""续建: a continuing project registers directly as 在建 with the investment completed in earlier years (its
累计完成投资 starts there), and joins the programmes of successive years under the same national code."""

from __future__ import annotations

from typing import Any

from tests.intake.conftest import Intake
from tests.platform import auth, project_body

CODE = "2023-410800-48-01-012345"


async def _programmes(intake: Intake) -> None:
    for year in (2025, 2026):
        body = {"id": f"prog-{year}", "name": f"{year} 年度重点项目", "year": year}
        r = await intake.client.post("/v1/programmes", json=body, headers=auth(intake.tokens["hq"]))
        assert r.status_code == 201, r.text
    assert await intake.runtime.runner.wait_for(await intake.runtime.store.last_seq(), 5)


def _continuing(year: int, **overrides: Any) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "programme_id": f"prog-{year}", "code": CODE, "construction_type": "continuing", "total_investment": "20000",
        "annual_planned_investment": "6000", "investment_completed_before": "8000", "planned_start": "2023-04-01",
        "planned_completion": "2026-12-31",
    }  # fmt: skip
    return project_body(**(fields | overrides))


async def test_a_continuing_project_starts_under_construction_with_its_earlier_investment(intake: Intake) -> None:
    await _programmes(intake)
    hq, unit = auth(intake.tokens["hq"]), auth(intake.tokens["unit-a"])
    r = await intake.client.post("/v1/projects", json=_continuing(2025), headers=hq)
    assert r.status_code == 201, r.text
    pid = r.json()["id"]
    report = {"period_start": "2025-01-06", "period_end": "2025-01-12", "investment_this_period": "250",
              "image_progress_pct": "45"}  # fmt: skip
    r = await intake.client.post(f"/v1/projects/{pid}/progress-reports", json=report, headers=unit)
    assert r.status_code == 201, r.text
    report_id = r.json()["report_id"]
    r = await intake.client.post(
        f"/v1/projects/{pid}/progress-reports/{report_id}/review", json={"decision": "accept"}, headers=hq
    )
    assert r.status_code == 200, r.text
    seq = r.json()["seq"]
    r = await intake.client.get(f"/v1/projects/{pid}", params={"min_seq": seq}, headers=hq)
    project = r.json()
    assert project["phase"] == "under_construction" and project["construction_type"] == "continuing"
    assert project["investment_completed_before"] == "8000" and project["cumulative_investment"] == "8250"
    r = await intake.client.get(f"/v1/projects/{pid}/progress-reports", params={"min_seq": seq}, headers=hq)
    ledger = r.json()  # the ledger counts from there: the report as accepted, on top of the earlier investment
    assert ledger["cumulative_investment"] == "8250" and ledger["pending_investment"] == "0"
    # The next year's programme takes it under the same national code; the same year's does not.
    r = await intake.client.post("/v1/projects", json=_continuing(2026), headers=hq)
    assert r.status_code == 201, r.text
    r = await intake.client.post("/v1/projects", json=_continuing(2025, name="重复登记"), headers=hq)
    assert r.status_code == 409 and r.json()["errors"][0]["field"] == "code"


async def test_only_a_continuing_project_carries_earlier_investment(intake: Intake) -> None:
    await _programmes(intake)
    hq = auth(intake.tokens["hq"])
    refused = [
        (_continuing(2025, construction_type="new"), "investment_completed_before"),
        (_continuing(2025, investment_completed_before="15000"), "investment_completed_before"),  # + 6000 > 20000
        (_continuing(2025, investment_completed_before="-1"), "investment_completed_before"),
    ]
    for body, field in refused:
        r = await intake.client.post("/v1/projects", json=body, headers=hq)
        assert r.status_code == 422 and r.json()["errors"][0]["field"] == field, r.text
    r = await intake.client.post("/v1/projects", json=project_body(), headers=hq)
    assert r.status_code == 201, r.text
    r = await intake.client.get(f"/v1/projects/{r.json()['id']}", params={"min_seq": r.json()["seq"]}, headers=hq)
    assert r.json()["phase"] == "preliminary" and r.json()["cumulative_investment"] == "0"
