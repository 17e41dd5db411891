"""The event index and /v1/audit/events against real NATS and PostgreSQL: every event of the log, by id, by aggregate,
by type, by record time, paged by key."""

from __future__ import annotations

from tests.audit.conftest import Audited


async def test_the_index_holds_every_event_of_the_log(audited: Audited) -> None:
    project = await audited.project()
    last = await audited.audit_rt.store.last_seq()
    page = await audited.get("/v1/audit/events", limit=500)
    assert page["total"] == last
    assert [e["seq"] for e in page["items"]] == list(range(1, last + 1))
    [registered] = [e for e in page["items"] if e["aggregate_id"] == project["id"]]
    assert registered["type"] == "ProjectRegistered" and registered["actor"]["org_id"] == "hq"
    assert registered["payload"]["name"] == "测试项目"
    same = await audited.get(f"/v1/audit/events/{registered['id']}")
    assert same == registered
