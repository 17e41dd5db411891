"""All that one request caused, across services: an issue assigned on issue_coordination and the notifications the
notification service's reaction appended for it share the request's correlation id, and the index finds them all,
each reaction's event naming its cause."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator

import pytest

from services.audit.bootstrap import create_app as create_audit
from shared.settings import Settings
from tests.notification.conftest import DEADLINE, Platform, platform_of
from tests.platform import running, runtime_of


@pytest.fixture
async def platform(settings: Settings) -> AsyncIterator[Platform]:
    async with platform_of(settings, escalate=False) as p:
        yield p


async def test_one_correlation_id_across_two_services(platform: Platform) -> None:
    project_id = await platform.project()
    audit_app = create_audit(dataclasses.replace(platform.settings, replica_id="audit-1"), clock=platform.clock)
    async with running(audit_app) as audit:
        issue_id = await platform.raise_issue(project_id)
        body = {"lead_unit_id": "unit-b", "co_handler_ids": ["unit-c"], "deadline": DEADLINE}
        headers = platform.h("hq", **{"X-Correlation-Id": "assign-42"})
        r = await platform.issues.post(f"/v1/issues/{issue_id}/assignment", json=body, headers=headers)
        assert r.status_code == 200, r.text
        await platform.synced()
        audit_rt = runtime_of(audit_app)
        assert await audit_rt.runner.wait_for(await audit_rt.store.last_seq(), 30)

        params = {"correlation_id": "assign-42"}
        r = await audit.get("/v1/audit/events", params=params, headers=platform.h("auditor"))
        assert r.status_code == 200, r.text
        events = r.json()["items"]
        types = {e["aggregate_type"] for e in events}
        assert {"issue", "inbox"} <= types, events
        [assigned] = [e for e in events if e["aggregate_type"] == "issue"]
        assert assigned["aggregate_id"] == issue_id and assigned["actor"]["org_id"] == "hq"
        assert assigned["causation_id"] is None
        notified = [e for e in events if e["aggregate_type"] == "inbox"]
        assert {e["aggregate_id"] for e in notified} >= {"unit-b", "unit-c"}, notified
        assert all(e["causation_id"] == str(assigned["id"]) for e in notified), notified
        assert all(e["correlation_id"] == "assign-42" for e in events)
