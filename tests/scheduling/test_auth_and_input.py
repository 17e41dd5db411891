"""scheduling to the same standard as intake: 401/403 by role, bad input named by field, nothing half-written."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from tests.platform import auth
from tests.scheduling.conftest import Platform
from tests.scheduling.test_plans import plan_body

ROLES = ["admin", "hq", "auditor", "supervision", "leader-a", "unit-a", "unit-b"]


async def _setup(platform: Platform) -> tuple[str, str, str]:
    pid = await platform.project()
    r = await platform.scheduling.post("/v1/plans", json=plan_body(pid), headers=auth(platform.tokens["unit-a"]))
    assert r.status_code == 201, r.text
    plan_id = r.json()["id"]
    r = await platform.scheduling.post(
        f"/v1/plans/{plan_id}/exemptions",
        json={"scope": "period", "period_start": "2024-06-01", "period_end": "2024-06-10", "reason": "汛期停工",
              "evidence": ["防汛指挥部通知"]},
        headers=auth(platform.tokens["unit-a"]),
    )  # fmt: skip
    assert r.status_code == 201, r.text
    await platform.synced()
    return pid, plan_id, r.json()["exemption_id"]


# (name, method, path template, body, roles allowed) — a second project makes every draft legal for hq and unit-a
WRITES: list[tuple[str, str, str, dict[str, Any], set[str]]] = [
    ("baseline", "POST", "/v1/plans/{plan}/baseline", {}, {"hq"}),
    ("exemption-approve", "POST", "/v1/plans/{plan}/exemptions/{exemption}/approve", {}, {"hq"}),
    ("complete", "POST", "/v1/plans/{plan}/milestones/permit/complete", {"done_on": "2024-01-01"}, {"hq", "unit-a"}),
    ("rules", "POST", "/v1/rules", {"effective_from": "2025-01-01", "rules": {}}, {"hq"}),
    ("monitoring", "POST", "/v1/monitoring/runs", {"day": "2024-01-01"}, {"hq"}),
    ("meeting", "POST", "/v1/meetings",
     {"kind": "monthly", "title": "调度会", "scheduled_for": "2024-05-08T09:00:00+08:00",
      "programme_id": "prog"}, {"hq"}),
]  # fmt: skip


@pytest.mark.parametrize("role", ROLES)
async def test_write_matrix(platform: Platform, role: str) -> None:
    _, plan_id, exemption_id = await _setup(platform)
    for name, method, template, body, allowed in WRITES:
        path = template.format(plan=plan_id, exemption=exemption_id)
        before = await platform.scheduling_rt.store.last_seq()
        r = await platform.scheduling.request(method, path, json=body, headers=auth(platform.tokens[role]))
        if role in allowed:
            assert r.status_code in (200, 201), (name, role, r.text)
        else:
            assert r.status_code == 403, (name, role, r.text)
            assert r.headers["content-type"].startswith("application/problem+json")
            # Nothing written; an auditor's refused attempt is in the access log (ADR 0033), and only that.
            recorded = 1 if role == "auditor" else 0
            assert await platform.scheduling_rt.store.last_seq() == before + recorded, (name, role)
            if recorded:
                last = await platform.scheduling_rt.store.get(before + 1)
                assert last.envelope.type == "AuditorAccessRecorded", (name, role)


async def test_unauthenticated_and_revoked_are_401(platform: Platform) -> None:
    for path in ("/v1/plans", "/v1/lights", "/v1/rules", "/v1/programmes/prog/ledger"):
        r = await platform.scheduling.get(path)
        assert r.status_code == 401 and r.headers["www-authenticate"].startswith("Bearer")
        r = await platform.scheduling.get(path, headers={"Authorization": "Bearer tdu_nope"})
        assert r.status_code == 401


async def test_reads_follow_responsibility(platform: Platform) -> None:
    _, plan_id, _ = await _setup(platform)
    expected = {"hq": 200, "auditor": 200, "supervision": 200, "leader-a": 200, "unit-a": 200, "unit-b": 403}
    for role, status in expected.items():
        r = await platform.scheduling.get(f"/v1/plans/{plan_id}", headers=auth(platform.tokens[role]))
        assert r.status_code == status, (role, r.text)
    r = await platform.scheduling.get("/v1/plans", headers=auth(platform.tokens["unit-b"]))
    assert r.json()["items"] == [] and r.json()["total"] == 0  # unit-b has no plans of its own
    r = await platform.scheduling.get("/v1/lights", headers=auth(platform.tokens["unit-b"]))
    assert all(p["unit_id"] == "unit-b" for p in r.json()["items"])


BAD_PLANS: list[tuple[str, dict[str, Any], int, str]] = [
    ("year-range", {"year": 1999}, 422, "year"),
    ("months-11", {"monthly_investment": ["1"] * 11}, 422, "monthly_investment"),
    ("month-negative", {"monthly_investment": ["-1"] + ["1"] * 11}, 422, "monthly_investment.0"),
    ("months-over-annual", {"monthly_investment": ["500"] * 12}, 422, "monthly_investment"),
    ("milestone-date", {"milestones": [{"milestone_id": "a", "name": "开工", "planned_date": "2024-13-01",
                                        "unit_id": "unit-a"}]}, 422, "milestones.0.planned_date"),
    ("milestone-dup", {"milestones": [{"milestone_id": "a", "name": "开工", "planned_date": "2024-05-01",
                                       "unit_id": "unit-a"}] * 2}, 422, "milestones.1.milestone_id"),
    ("milestone-extra", {"milestones": [{"milestone_id": "a", "name": "开工", "planned_date": "2024-05-01",
                                         "unit_id": "unit-a", "owner": "x"}]}, 422, "milestones.0.owner"),
    ("unknown-field", {"colour": "red"}, 422, "colour"),
    ("project-wildcard", {"project_id": "*"}, 422, "project_id"),
]  # fmt: skip


@pytest.mark.parametrize(("case", "overrides", "status", "field"), BAD_PLANS, ids=[c[0] for c in BAD_PLANS])
async def test_bad_plans_name_the_field_and_write_nothing(
    module_platform: Platform, case: str, overrides: dict[str, Any], status: int, field: str
) -> None:
    platform = module_platform  # each case on a project of its own
    pid = await platform.project()
    before = await platform.scheduling_rt.store.last_seq()
    r = await platform.scheduling.post(
        "/v1/plans", json={**plan_body(pid), **overrides}, headers=auth(platform.tokens["hq"])
    )
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert field in [e["field"] for e in r.json()["errors"]], r.json()
    assert await platform.scheduling_rt.store.last_seq() == before
    r = await platform.scheduling.post("/v1/plans", json=plan_body(pid), headers=auth(platform.tokens["hq"]))
    assert r.status_code == 201  # the positive control on the same project


async def test_bad_rules_exemptions_and_meetings(platform: Platform) -> None:
    _, plan_id, _ = await _setup(platform)
    hq = auth(platform.tokens["hq"])
    june = {"period_start": "2024-06-10", "period_end": "2024-06-01", "reason": "理由", "evidence": ["证明"]}
    cases = [
        ("/v1/rules", {"effective_from": "2025-01-01", "rules": {"yellow_points_behind": 40}},
         "rules.red_points_behind"),
        ("/v1/rules", {"effective_from": "2025-01-01", "rules": {"yellow_points_behind": -1}},
         "rules.yellow_points_behind"),
        (f"/v1/plans/{plan_id}/exemptions", {"scope": "period", **june}, "period_end"),
        (f"/v1/plans/{plan_id}/exemptions", {"scope": "milestone", "milestone_id": "nope", "reason": "理由",
                                             "evidence": ["证明"]}, "milestone_id"),
        (f"/v1/plans/{plan_id}/exemptions", {"scope": "milestone", "milestone_id": "permit", "reason": "理由"},
         "evidence"),
        ("/v1/meetings", {"kind": "yearly", "title": "x", "scheduled_for": "2024-05-08T09:00:00+08:00",
                          "programme_id": "prog"}, "kind"),
        ("/v1/meetings", {"kind": "weekly", "title": "x", "scheduled_for": "2024-05-08T09:00:00+08:00",
                          "programme_id": "nope"}, "programme_id"),
        # A monitoring run dated after the platform's today would freeze every light at that day for good.
        ("/v1/monitoring/runs", {"day": "2099-01-01"}, "day"),
    ]  # fmt: skip
    for path, body, field in cases:
        before = await platform.scheduling_rt.store.last_seq()
        r = await platform.scheduling.post(path, json=body, headers=hq)
        assert r.status_code == 422, (path, body, r.text)
        assert field in [e["field"] for e in r.json()["errors"]], (field, r.json())
        assert await platform.scheduling_rt.store.last_seq() == before


async def test_leaders_list_only_what_they_sponsor(platform: Platform) -> None:
    hq = auth(platform.tokens["hq"])
    sponsored = await platform.project()
    other = await platform.project(sponsor_leader_id=None, unit_id="unit-b")
    for pid in (sponsored, other):
        r = await platform.scheduling.post("/v1/plans", json=plan_body(pid), headers=hq)
        assert r.status_code == 201, r.text
    await platform.synced()
    await platform.monitor(date(2024, 4, 27))
    await platform.synced()
    leader = auth(platform.tokens["leader-a"])
    r = await platform.scheduling.get("/v1/plans", headers=leader)
    assert [p["project_id"] for p in r.json()["items"]] == [sponsored]
    r = await platform.scheduling.get("/v1/plans", headers=hq)
    assert {p["project_id"] for p in r.json()["items"]} == {sponsored, other}  # the positive control
    r = await platform.scheduling.get("/v1/monitoring/days/2024-04-27", headers=leader)
    assert r.status_code == 200 and r.json()["items"], r.text
    assert {item["project_id"] for item in r.json()["items"]} == {sponsored}
    r = await platform.scheduling.get("/v1/monitoring/days/2024-04-27", headers=hq)
    assert {item.get("project_id") for item in r.json()["items"]} == {sponsored, other, None}  # None: completion
