"""Who reads the audit service: the auditor and hq read every endpoint; units, leaders and supervision get 403
problem+json in Chinese. The access log lists the auditors' reads other services recorded (docs/adr/0033)."""

from __future__ import annotations

import importlib.util

import pytest

from shared.clock import CHINA
from tests.audit.conftest import Audited

READS = [
    "/v1/audit/events",
    "/v1/audit/events/00000000-0000-0000-0000-000000000000",
    "/v1/audit/aggregates/programme/prog/history",
    "/v1/audit/aggregates/programme/prog/diff?from=2024-01-01T00:00:00%2B08:00",
    "/v1/audit/verification",
    "/v1/audit/access-log",
]


async def test_only_auditors_and_hq_read_the_audit_service(audited: Audited) -> None:
    for org in ("unit-a", "leader-a", "supervision"):
        for path in READS:
            r = await audited.audit.get(path, headers=audited.h(org))
            assert r.status_code == 403, (org, path, r.text)
            assert r.headers["content-type"] == "application/problem+json"
            assert "审计" in r.json()["detail"], r.text
        r = await audited.audit.post("/v1/audit/verification", headers=audited.h(org))
        assert r.status_code == 403, (org, r.text)
    for org in ("auditor", "hq"):
        for path in READS:
            r = await audited.audit.get(path, headers=audited.h(org))
            expected = 404 if "00000000" in path or path.endswith("verification") else 200
            assert r.status_code == expected, (org, path, r.text)
    r = await audited.audit.get("/v1/audit/events")
    assert r.status_code == 401


async def test_access_log_filters_are_checked(audited: Audited) -> None:
    for params, field in [({"service": "nowhere"}, "service"), ({"day": "2024-13-01"}, "day"),
                          ({"org_id": "a b"}, "org_id")]:  # fmt: skip
        r = await audited.audit.get("/v1/audit/access-log", params=params, headers=audited.h("hq"))
        assert r.status_code == 422, (params, r.text)
        assert f"query.{field}" in [e["field"] for e in r.json()["errors"]], r.text


@pytest.mark.skipif(
    importlib.util.find_spec("shared.catalogue.access") is None,
    reason="AuditorAccessRecorded is declared on the access branch (docs/adr/0033); runs once it is merged",
)
async def test_access_log_lists_the_auditors_reads_recorded_by_other_services(audited: Audited) -> None:
    project = await audited.project()
    r = await audited.intake.get(f"/v1/projects/{project['id']}", headers=audited.h("auditor"))
    assert r.status_code == 200, r.text
    r = await audited.intake.get(f"/v1/projects/{project['id']}", headers=audited.h("hq"))  # not an auditor
    assert r.status_code == 200, r.text
    await audited.synced()
    day = audited.clock.now().astimezone(CHINA).date().isoformat()
    page = await audited.get("/v1/audit/access-log", "hq", service="intake", org_id="auditor", day=day)
    paths = [record["payload"]["path"] for record in page["items"]]
    assert f"/v1/projects/{project['id']}" in paths, page
    assert all(record["payload"]["org_id"] == "auditor" for record in page["items"])
    other_day = await audited.get("/v1/audit/access-log", "hq", service="intake", day="2023-01-01")
    assert other_day["total"] == 0
