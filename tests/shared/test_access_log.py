"""Every auditor request on every service is in the log before its answer arrives (shared.access_log, ADR 0033);
nobody else's is; concurrent reads across two replicas lose none; a log out of reach withholds the answer (503).
Needs the suite's NATS and PostgreSQL."""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import timedelta

from services.intake.bootstrap import create_app as create_intake
from shared.access_log import aggregate_id
from shared.catalogue.ownership import access_aggregate
from shared.settings import Settings
from tests.platform import project_body, running
from tests.shared.access_platform import access_events, four_services, record_of

# One read per service, with path parameters and a query string (a secret-looking one among them), and the status
# each answers the auditor with.
READS = {
    "intake": ("/v1/programmes/prog", "/v1/programmes/{programme_id}", {"programme_id": "prog"}, 404),
    "scheduling": ("/v1/monitoring/days/2024-01-01", "/v1/monitoring/days/{day}", {"day": "2024-01-01"}, None),
    "issue_coordination": ("/v1/issues/no-such-issue", "/v1/issues/{issue_id}", {"issue_id": "no-such-issue"}, 404),
    "notification": ("/v1/deliveries", "/v1/deliveries", {}, 200),
}
QUERY = [("limit", "5"), ("org_id", "unit-a"), ("access_token", "s3cret")]


async def test_each_auditor_read_on_each_service_is_recorded_before_its_answer(settings: Settings) -> None:
    async with four_services(settings) as p:
        answers = {}
        for service, (path, _, _, _) in READS.items():
            r = await p.clients[service].get(path, params=QUERY, headers=p.h("auditor"))
            answers[service] = r.status_code
            # Already in the log when the answer arrives: no waiting.
            records = [record_of(e) for e in await access_events(p.store) if record_of(e).service == service]
            assert len(records) == 1, (service, records)
        events = await access_events(p.store)
        assert len(events) == 4
        for event in events:
            record = record_of(event)
            path, route, params, status = READS[record.service]
            assert event.envelope.aggregate_type == access_aggregate(record.service)
            assert event.envelope.aggregate_id == f"auditor_{p.clock.now():%Y%m%d}"
            assert event.envelope.actor.org_id == "auditor" and event.envelope.actor.role == "auditor"
            assert (record.org_id, record.method, record.path, record.route) == ("auditor", "GET", path, route)
            assert record.user and record.user == event.envelope.actor.user  # the credential it was made with
            assert record.path_params == params
            assert [(q.name, q.value) for q in record.query] == [("limit", "5"), ("org_id", "unit-a"),
                                                                  ("access_token", "[已隐去]")]  # fmt: skip
            assert record.status == answers[record.service]
            assert status is None or record.status == status
            assert record.accessed_at == p.clock.now() and record.day == p.clock.now().date()


async def test_other_roles_leave_no_record_and_a_refused_auditor_request_is_recorded(settings: Settings) -> None:
    async with four_services(settings) as p:
        for org in ("hq", "unit-a", "leader-a", "supervision", "admin"):
            for service, (path, _, _, _) in READS.items():
                r = await p.clients[service].get(path, params=QUERY, headers=p.h(org))
                assert r.status_code < 500, r.text
        r = await p.clients["intake"].get("/v1/programmes", headers={"Authorization": "Bearer tdu_wrong"})
        assert r.status_code == 401
        assert await access_events(p.store) == []
        # A write the auditor may not make is refused and recorded with the refusal.
        r = await p.clients["intake"].post("/v1/projects", json=project_body(), headers=p.h("auditor"))
        assert r.status_code == 403
        [event] = await access_events(p.store)
        refused = record_of(event)
        assert (refused.method, refused.path, refused.status) == ("POST", "/v1/projects", 403)


async def test_one_aggregate_per_auditor_per_day_per_service(settings: Settings) -> None:
    async with four_services(settings) as p:
        for _ in range(3):
            assert (await p.clients["intake"].get("/v1/organisations", headers=p.h("auditor"))).status_code == 200
        await p.clients["notification"].get("/v1/deliveries", headers=p.h("auditor"))
        p.clock.advance(timedelta(days=1))
        await p.clients["intake"].get("/v1/organisations", headers=p.h("auditor"))
        events = await access_events(p.store)
        keys = [(e.envelope.aggregate_type, e.envelope.aggregate_id, e.envelope.version) for e in events]
        assert keys == [
            ("intake_access", "auditor_20240101", 1), ("intake_access", "auditor_20240101", 2),
            ("intake_access", "auditor_20240101", 3), ("notification_access", "auditor_20240101", 1),
            ("intake_access", "auditor_20240102", 1),
        ]  # fmt: skip
        # Each record chains to the previous one of its aggregate.
        assert events[1].envelope.prev_hash == events[0].envelope.hash


async def test_concurrent_reads_on_two_replicas_lose_no_record(settings: Settings) -> None:
    async with four_services(settings) as p:
        second = create_intake(dataclasses.replace(settings, replica_id="intake-2"), clock=p.clock)
        async with running(second) as other:
            replicas = [p.clients["intake"], other]
            # Interleaved one by one, each replica's remembered position goes stale: the conflict path, for sure.
            for i in range(4):
                r = await replicas[i % 2].get("/v1/organisations", params={"n": str(i)}, headers=p.h("auditor"))
                assert r.status_code == 200
            recorder = second.state.access_recorder
            assert recorder.conflicts >= 1  # its first append found the aggregate begun by the other replica
            # Then a burst on both at once.
            reads = [
                replicas[i % 2].get("/v1/organisations", params={"n": str(i)}, headers=p.h("auditor"))
                for i in range(4, 44)
            ]
            answers = await asyncio.gather(*reads)
            assert [r.status_code for r in answers] == [200] * 40
        events = await access_events(p.store)
        agg = aggregate_id("auditor", p.clock.now())
        assert {(e.envelope.aggregate_type, e.envelope.aggregate_id) for e in events} == {("intake_access", agg)}
        assert sorted(e.envelope.version for e in events) == list(range(1, 45))
        assert sorted(int(record_of(e).query[0].value) for e in events) == list(range(44))


async def test_an_auditor_read_is_withheld_when_the_log_is_out_of_reach(settings: Settings) -> None:
    async with four_services(settings) as p:
        intake = p.runtimes["intake"]
        await intake.nc.close()  # this process can no longer reach NATS: its reads come from PostgreSQL still
        r = await p.clients["intake"].get("/v1/organisations", headers=p.h("hq"))
        assert r.status_code == 200
        r = await p.clients["intake"].get("/v1/organisations", params={"limit": "5"}, headers=p.h("auditor"))
        assert r.status_code == 503, r.text
        assert r.headers["content-type"] == "application/problem+json"
        assert "审计日志" in r.json()["detail"]
        assert "items" not in r.json()
        assert await access_events(p.runtimes["scheduling"].store) == []
