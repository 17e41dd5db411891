"""The service starts beside the others, answers its health endpoints and folds a raised issue."""

from __future__ import annotations

from tests.issue_coordination.conftest import Platform


async def test_health_and_a_raised_issue_is_listed(platform: Platform) -> None:
    assert (await platform.issues.get("/healthz")).status_code == 200
    ready = await platform.issues.get("/readyz")
    assert ready.status_code == 200 and ready.json()["parked_events"] == 0, ready.text
    project_id = await platform.project()
    issue_id = await platform.raise_issue(project_id)
    await platform.synced()
    r = await platform.issues.get("/v1/issues", params={"project_id": project_id}, headers=platform.h("unit-a"))
    assert r.status_code == 200, r.text
    page = r.json()
    assert page["total"] == 1 and page["items"][0]["id"] == issue_id
    assert page["items"][0]["status"] == "raised" and page["items"][0]["category_label"] == "用地"
