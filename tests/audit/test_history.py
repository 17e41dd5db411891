"""An aggregate's history and its field-level diff between two record-time moments, after a real amendment."""

from __future__ import annotations

from datetime import timedelta

from tests.audit.conftest import Audited


async def amend(audited: Audited, project_id: str, body: dict[str, object], cid: str) -> None:
    headers = audited.h("hq", **{"X-Correlation-Id": cid})
    r = await audited.intake.patch(f"/v1/projects/{project_id}", json=body, headers=headers)
    assert r.status_code == 200, r.text
    await audited.synced()


async def test_history_lists_every_event_with_actor_causation_and_correlation(audited: Audited) -> None:
    project = await audited.project()
    audited.clock.advance(timedelta(hours=1))
    await amend(audited, project["id"], {"name": "改名后的项目"}, "amend-1")
    page = await audited.get(f"/v1/audit/aggregates/project/{project['id']}/history")
    assert page["total"] == 2
    registered, amended = page["items"]
    assert [registered["version"], amended["version"]] == [1, 2]
    assert amended["type"] == "ProjectDetailsAmended" and amended["correlation_id"] == "amend-1"
    assert amended["actor"]["org_id"] == "hq" and amended["actor"]["role"] == "hq"
    assert amended["prev_hash"] == registered["hash"]
    assert "causation_id" in amended
    r = await audited.audit.get("/v1/audit/aggregates/project/nothing-here/history", headers=audited.h("auditor"))
    assert r.status_code == 404 and r.headers["content-type"] == "application/problem+json"


async def test_diff_names_each_changed_field_with_the_event_that_changed_it(audited: Audited) -> None:
    project = await audited.project()
    before = audited.clock.now()
    audited.clock.advance(timedelta(hours=1))
    await amend(audited, project["id"], {"name": "改名后的项目", "location": "龙华区"}, "amend-1")
    middle = audited.clock.now()
    audited.clock.advance(timedelta(hours=1))
    await amend(audited, project["id"], {"location": "美兰区"}, "amend-2")
    after = audited.clock.now()
    path = f"/v1/audit/aggregates/project/{project['id']}/diff"

    whole = await audited.get(path, **{"from": before.isoformat(), "to": after.isoformat()})
    assert (whole["version_from"], whole["version_to"]) == (1, 3)
    assert [e["correlation_id"] for e in whole["events"]] == ["amend-1", "amend-2"]
    changes = {c["field"]: c for c in whole["changes"]}
    assert set(changes) == {"name", "location"}  # nothing else differs: nulls in an amendment set nothing
    assert (changes["name"]["before"], changes["name"]["after"]) == ("测试项目", "改名后的项目")
    assert changes["name"]["changed_by"]["correlation_id"] == "amend-1"
    assert (changes["location"]["before"], changes["location"]["after"]) == ("马村区", "美兰区")
    assert changes["location"]["changed_by"]["version"] == 3

    first = await audited.get(path, **{"from": before.isoformat(), "to": middle.isoformat()})
    assert {c["field"]: c["after"] for c in first["changes"]} == {"name": "改名后的项目", "location": "龙华区"}

    nothing = await audited.get(path, **{"from": after.isoformat(), "to": after.isoformat()})
    assert nothing["changes"] == [] and nothing["events"] == []

    unborn = await audited.get(path, **{"from": (before - timedelta(days=1)).isoformat(), "to": before.isoformat()})
    assert unborn["version_from"] == 0 and {"name", "unit_id"} <= {c["field"] for c in unborn["changes"]}
    assert all(not c["before_set"] and c["after_set"] for c in unborn["changes"])


async def test_diff_refuses_moments_it_cannot_read(audited: Audited) -> None:
    project = await audited.project()
    path = f"/v1/audit/aggregates/project/{project['id']}/diff"
    now = audited.clock.now()
    cases = [
        ({"from": now.isoformat(), "to": (now - timedelta(hours=1)).isoformat()}, "to"),
        ({"from": "2024-01-01T08:00:00"}, "from"),
        ({"from": "not-a-moment"}, "from"),
        ({}, "from"),
    ]
    for params, field in cases:
        r = await audited.audit.get(path, params=params, headers=audited.h("auditor"))
        assert r.status_code == 422, (params, r.text)
        assert r.headers["content-type"] == "application/problem+json"
        assert f"query.{field}" in [e["field"] for e in r.json()["errors"]], (params, r.text)
