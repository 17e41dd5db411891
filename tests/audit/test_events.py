"""The event index and /v1/audit/events against real NATS and PostgreSQL: every event of the log, by id, by aggregate,
by type, by record time, paged by key."""

from __future__ import annotations

from datetime import timedelta

from tests.audit.conftest import Audited
from tests.platform import project_body


async def test_the_index_holds_every_event_of_the_log(audited: Audited) -> None:
    project = await audited.project()
    last = await audited.audit_rt.store.last_seq()
    page = await audited.get("/v1/audit/events", limit=500)
    assert (page["total"], page["total_exact"], page["has_more"]) == (last, False, False)  # the high-water mark
    assert [e["seq"] for e in page["items"]] == list(range(1, last + 1))
    [registered] = [e for e in page["items"] if e["aggregate_id"] == project["id"]]
    assert registered["type"] == "ProjectRegistered" and registered["actor"]["org_id"] == "hq"
    assert registered["payload"]["name"] == "测试项目"
    same = await audited.get(f"/v1/audit/events/{registered['id']}")
    assert same == registered


async def test_filters_and_keyset_paging(audited: Audited) -> None:
    first = await audited.project(name="项目一")
    audited.clock.advance(timedelta(days=1))
    moment = audited.clock.now()
    r = await audited.intake.post("/v1/projects", json=project_body(name="项目二"),
                                  headers=audited.h("hq", **{"X-Correlation-Id": "second"}))  # fmt: skip
    assert r.status_code == 201, r.text
    second = r.json()
    await audited.synced()

    by_aggregate = await audited.get("/v1/audit/events", aggregate_type="project", aggregate_id=first["id"])
    assert [e["type"] for e in by_aggregate["items"]] == ["ProjectRegistered"]
    by_correlation = await audited.get("/v1/audit/events", correlation_id="second")
    assert {e["aggregate_id"] for e in by_correlation["items"]} == {second["id"]}
    by_type = await audited.get("/v1/audit/events", type="ProjectRegistered")
    assert (by_type["total"], by_type["total_exact"]) == (2, True)
    recent = await audited.get("/v1/audit/events", recorded_from=moment.isoformat())
    assert [e["aggregate_id"] for e in recent["items"]] == [second["id"]]
    earlier = await audited.get("/v1/audit/events", recorded_to=moment.isoformat(), type="ProjectRegistered")
    assert [e["aggregate_id"] for e in earlier["items"]] == [first["id"]]

    everything = await audited.get("/v1/audit/events", limit=500)
    seen: list[int] = []
    after = 0
    while True:
        page = await audited.get("/v1/audit/events", limit=3, after_seq=after)
        assert page["total"] == everything["total"]
        seen += [e["seq"] for e in page["items"]]
        if not page["has_more"]:
            break
        assert len(page["items"]) == 3
        after = page["items"][-1]["seq"]
    assert seen == [e["seq"] for e in everything["items"]]
    offset = await audited.get("/v1/audit/events", limit=2, offset=2)
    assert [e["seq"] for e in offset["items"]] == seen[2:4]


async def test_bad_filters_are_named(audited: Audited) -> None:
    cases = [
        ({"aggregate_type": "bad type"}, "aggregate_type"),
        ({"recorded_from": "2024-01-02T00:00:00"}, "recorded_from"),
        ({"recorded_from": "2024-01-02T00:00:00+08:00", "recorded_to": "2024-01-01T00:00:00+08:00"}, "recorded_to"),
        ({"after_seq": "-1"}, "after_seq"),
        ({"limit": "0"}, "limit"),
    ]
    for params, field in cases:
        r = await audited.audit.get("/v1/audit/events", params=params, headers=audited.h("auditor"))
        assert r.status_code == 422, (params, r.text)
        assert f"query.{field}" in [e["field"] for e in r.json()["errors"]], (params, r.text)
    r = await audited.audit.get("/v1/audit/events/00000000-0000-0000-0000-000000000000", headers=audited.h("hq"))
    assert r.status_code == 404 and r.json()["errors"][0]["field"] == "path.event_id"


async def test_the_unfiltered_total_is_the_index_high_water_mark_not_a_count(audited: Audited) -> None:
    """Unfiltered, `total` is read from the index's highest sequence (cheap at a million events), and says so; a row
    missing below it (as an event the projection parked would be) leaves it unchanged, where a filter counts."""
    await audited.project(name="项目一")
    last = await audited.audit_rt.store.last_seq()
    rt = audited.audit_rt
    async with rt.pool.acquire() as conn:
        gone = await conn.fetchval(f"DELETE FROM {rt.schema}.event_index WHERE seq = 1 RETURNING type")
    page = await audited.get("/v1/audit/events", limit=1)
    assert (page["total"], page["total_exact"], page["has_more"]) == (last, False, True)
    assert page["items"][0]["seq"] == 2
    counted = await audited.get("/v1/audit/events", type=gone)
    assert counted["total_exact"] is True and 1 not in [e["seq"] for e in counted["items"]]
    assert counted["total"] == len(counted["items"]) and counted["has_more"] is False
