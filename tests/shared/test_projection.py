"""The projection runner against real JetStream and PostgreSQL: faults, dead letters, rebuilds, replicas."""

from __future__ import annotations

import asyncio
import itertools
import random
from collections.abc import Sequence
from datetime import date, timedelta
from decimal import Decimal

import asyncpg
import httpx
import nats

from services.intake.bootstrap import SERVICE, create_app, read_model
from shared.eventstore import StoredEvent
from shared.names import LEASE_BUCKET
from shared.projection import AfterCommit, Raw
from shared.provision import StreamLayout, provision_at
from shared.rebuild import diff_schemas, rebuild
from shared.runtime import Runtime
from shared.settings import Settings
from tests.platform import auth, bootstrap_and_wait, project_body, replica, running, runtime_of, wait_until
from tests.shared.counting import COUNTER, CountingReadModel, assert_exactly_once, counting_runtime
from tests.shared.load import Writer

DAYS = itertools.count()


def report(amount: str) -> dict[str, str]:
    """A one-day report on a day no earlier report of this module used: a project's periods may not overlap."""
    day = (date(2024, 1, 1) + timedelta(days=next(DAYS))).isoformat()
    return {"period_start": day, "period_end": day, "image_progress_pct": "10", "investment_this_period": amount}


async def _seed(client: httpx.AsyncClient, tokens: dict[str, str]) -> str:
    r = await client.post(
        "/v1/programmes", json={"id": "prog", "name": "计划", "year": 2024}, headers=auth(tokens["hq"])
    )
    assert r.status_code == 201, r.text
    await client.get("/v1/programmes/prog", params={"min_seq": r.json()["seq"]}, headers=auth(tokens["hq"]))
    r = await client.post("/v1/projects", json=project_body(), headers=auth(tokens["hq"]))
    assert r.status_code == 201, r.text
    project_id: str = r.json()["id"]
    return project_id


async def _cumulative(client: httpx.AsyncClient, token: str, project_id: str, seq: int) -> str:
    r = await client.get(f"/v1/projects/{project_id}", params={"min_seq": seq}, headers=auth(token))
    assert r.status_code == 200, r.text
    value: str = r.json()["reported_investment"]  # every report as reported: awaiting review, so not yet accepted
    return value


def _crash_once_after(marker: bytes, crashes: list[list[int]]) -> AfterCommit:
    """An after-commit hook that raises once, right after committing the first batch holding `marker`."""

    async def crash(partition: int, raws: list[Raw]) -> None:
        if not crashes and any(marker in raw.data for raw in raws):
            crashes.append([raw.seq for raw in raws])
            raise RuntimeError("simulated crash right after a commit")

    return crash


async def _parked(rt: Runtime) -> list[str]:
    async with rt.pool.acquire() as conn:
        rows = await conn.fetch(f"SELECT seq, reason FROM {rt.schema}._dead_letter ORDER BY seq")
    return [f"{r['seq']}: {r['reason']}" for r in rows]


async def test_crash_right_after_a_commit_applies_nothing_twice(settings: Settings) -> None:
    """Intake and the counting projection each crash once right after committing a batch of reports (where an ack
    used to follow): the worker dies, the partition is taken again from the checkpoint.

    A second application shows twice: the counter counts it, and intake parks the report it cannot insert again.
    """
    crashes: list[list[int]] = []
    counter_crashes: list[list[int]] = []
    app = create_app(settings, after_commit=_crash_once_after(b'"ProgressReported"', crashes))
    counting = counting_runtime(settings, after_commit=_crash_once_after(b'"ProgressReported"', counter_crashes))
    async with running(app) as client, counting as counter:
        rt = runtime_of(app)
        tokens = await bootstrap_and_wait(rt)
        project_id = await _seed(client, tokens)
        seqs = []
        for amount in ("100", "200", "300"):
            r = await client.post(
                f"/v1/projects/{project_id}/progress-reports",
                json=report(amount),
                headers=auth(tokens["unit-a"]),
            )
            seqs.append(r.json()["seq"])
        assert await _cumulative(client, tokens["hq"], project_id, seqs[-1]) == "600"
        assert crashes and counter_crashes, "the fault was never injected"
        async with rt.pool.acquire() as conn:
            reports = await conn.fetchval(f"SELECT count(*) FROM {rt.schema}.progress_reports")
        assert await counter.runner.wait_for(seqs[-1], 10)
        await assert_exactly_once(counter.pool, counter.schema, counter.store)
        assert reports == 3
        assert await _parked(rt) == []


async def _true(value: bool) -> bool:
    return value


async def test_malformed_and_unknown_events_are_parked_and_the_rest_flows(settings: Settings) -> None:
    app = create_app(settings)
    async with running(app) as client:
        rt = runtime_of(app)
        tokens = await bootstrap_and_wait(rt)
        project_id = await _seed(client, tokens)
        js = rt.js
        bad = [
            (f"{settings.subject_prefix}.ev.project.broken", b"{not json"),
            (f"{settings.subject_prefix}.ev.project.zzz", b'{"type": "ProjectTeleported"}'),
        ]
        for subject, data in bad:
            await js.publish(subject, data, stream=settings.stream)
        r = await client.post(
            f"/v1/projects/{project_id}/progress-reports",
            json=report("5"),
            headers=auth(tokens["unit-a"]),
        )
        assert r.status_code == 201, r.text
        assert await _cumulative(client, tokens["hq"], project_id, r.json()["seq"]) == "5"
        async with rt.pool.acquire() as conn:
            parked = await conn.fetch(f"SELECT seq, reason FROM {rt.schema}._dead_letter ORDER BY seq")
        assert len(parked) == 2
        assert "not JSON" in parked[0]["reason"]
        assert "validation error" in parked[1]["reason"].lower() or "unknown" in parked[1]["reason"].lower()


async def test_rebuild_from_sequence_one_equals_live(settings: Settings) -> None:
    app = create_app(settings)
    async with running(app) as client:
        rt = runtime_of(app)
        tokens = await bootstrap_and_wait(rt)
        project_id = await _seed(client, tokens)
        for i in range(20):
            await client.post(
                f"/v1/projects/{project_id}/progress-reports",
                json=report(str(i)),
                headers=auth(tokens["unit-a"]),
            )
        await client.post(
            f"/v1/projects/{project_id}/phase",
            json={"phase": "under_construction", "reason": "开工"},
            headers=auth(tokens["hq"]),
        )
        last = await rt.store.last_seq()
        assert await rt.runner.wait_for(last, 10)
        result = await rebuild(rt.pool, rt.store, read_model(), "intake_rebuild", until_seq=last)
        assert result.applied == last and result.dead_lettered == 0
        assert await diff_schemas(rt.pool, read_model(), rt.schema, "intake_rebuild") == {}
        # The comparison can fail: change one live row and it must notice.
        async with rt.pool.acquire() as conn:
            await conn.execute(f"UPDATE {rt.schema}.projects SET name = 'tampered' WHERE id = $1", project_id)
        assert await diff_schemas(rt.pool, read_model(), rt.schema, "intake_rebuild") == {"projects": 2}


async def test_two_replicas_under_load_match_a_rebuild(settings: Settings) -> None:
    """Two intake replicas share partitions; one is killed mid-load; the survivor takes over; nothing is lost."""
    app_a = create_app(replica(settings, "replica-a"))
    app_b = create_app(replica(settings, "replica-b"))
    # Each intake replica runs beside a replica of the counting projection, which shares partitions, hands them
    # over and is stopped the same way, and shows a double application or a skip that intake's tables would hide.
    async with running(app_a) as client_a, counting_runtime(replica(settings, "replica-a")) as counter_a:
        rt_a = runtime_of(app_a)
        tokens = await bootstrap_and_wait(rt_a)
        await _seed(client_a, tokens)
        project_ids = []
        for i in range(12):
            r = await client_a.post("/v1/projects", json=project_body(name=f"项目{i}"), headers=auth(tokens["hq"]))
            project_ids.append(r.json()["id"])
        expected: dict[str, Decimal] = dict.fromkeys(project_ids, Decimal(0))
        async with running(app_b) as client_b, counting_runtime(replica(settings, "replica-b")) as counter_b:
            rt_b = runtime_of(app_b)
            await wait_until(lambda: _true(bool(rt_b.runner._workers) and bool(rt_a.runner._workers)), 20, "sharing")
            assert set(rt_a.runner._workers).isdisjoint(rt_b.runner._workers)
            await wait_until(
                lambda: _true(bool(counter_a.runner._workers) and bool(counter_b.runner._workers)),
                20,
                "counting replicas sharing",
            )

            async def writer(client: httpx.AsyncClient, n: int) -> None:
                rng = random.Random(n)
                for _ in range(40):
                    project_id = rng.choice(project_ids)
                    amount = Decimal(rng.randint(1, 999))
                    r = await client.post(
                        f"/v1/projects/{project_id}/progress-reports",
                        json=report(str(amount)),
                        headers=auth(tokens["unit-a"]),
                    )
                    assert r.status_code == 201, r.text
                    expected[project_id] += amount

            await asyncio.gather(*(writer(c, n) for n, c in enumerate([client_a, client_b, client_a, client_b])))
        # replica-b is gone (stopped mid-stream of leases); replica-a must take over its partitions.
        for i in range(20):
            r = await client_a.post(
                f"/v1/projects/{project_ids[i % 12]}/progress-reports",
                json=report("1"),
                headers=auth(tokens["unit-a"]),
            )
            expected[project_ids[i % 12]] += 1
        last = await rt_a.store.last_seq()
        assert await rt_a.runner.wait_for(last, 30)
        async with rt_a.pool.acquire() as conn:
            rows = await conn.fetch(
                f"SELECT id, (state->>'reported_investment')::numeric AS c FROM {rt_a.schema}.projects"
            )
            reports = await conn.fetchval(f"SELECT count(*) FROM {rt_a.schema}.progress_reports")
        assert {r["id"]: r["c"] for r in rows if r["id"] in expected} == expected
        assert reports == 4 * 40 + 20
        assert await counter_a.runner.wait_for(last, 30)
        await assert_exactly_once(counter_a.pool, counter_a.schema, counter_a.store)
        async with counter_a.pool.acquire() as conn:
            appliers = {
                r["replica"] for r in await conn.fetch(f"SELECT DISTINCT replica FROM {counter_a.schema}.applied")
            }
        assert appliers == {"replica-a", "replica-b"}, "both counting replicas must have applied a share"
        assert await _parked(rt_a) == []
        await rebuild(rt_a.pool, rt_a.store, read_model(), "intake_rebuild", until_seq=last)
        assert await diff_schemas(rt_a.pool, read_model(), rt_a.schema, "intake_rebuild") == {}
        assert SERVICE == "intake"


async def test_min_seq_waits_answers_504_when_the_projection_lags_and_422_beyond_the_log(settings: Settings) -> None:
    app = create_app(settings)
    async with running(app) as client:
        rt = runtime_of(app)
        tokens = await bootstrap_and_wait(rt)
        project_id = await _seed(client, tokens)
        last = await rt.store.last_seq()
        r = await client.get(f"/v1/projects/{project_id}", params={"min_seq": last}, headers=auth(tokens["hq"]))
        assert r.status_code == 200
        # A sequence no write has answered with: refused at once, naming the field, instead of a wait.
        started = asyncio.get_running_loop().time()
        r = await client.get(
            f"/v1/projects/{project_id}",
            params={"min_seq": last + 1000, "wait_ms": 5000},
            headers=auth(tokens["hq"]),
        )
        assert r.status_code == 422, r.text
        assert asyncio.get_running_loop().time() - started < 2.0  # not the 5 s wait
        assert r.headers["content-type"].startswith("application/problem+json")
        assert r.json()["errors"][0]["field"] == "min_seq" and r.json()["last_seq"] == last
        # Authentication comes first: an unauthenticated read is refused without waiting on min_seq.
        r = await client.get(f"/v1/projects/{project_id}", params={"min_seq": last + 1000, "wait_ms": 5000})
        assert r.status_code == 401, r.text
        # A projection that is stopped never reaches a new write: the read says so instead of answering stale.
        projection = rt._tasks[0]
        projection.cancel()
        await wait_until(lambda: _true(projection.done()), 5, "projection stopped")
        r = await client.post(
            f"/v1/projects/{project_id}/phase",
            json={"phase": "under_construction", "reason": "开工"},
            headers=auth(tokens["hq"]),
        )
        assert r.status_code == 200
        written = r.json()["seq"]
        r = await client.get(
            f"/v1/projects/{project_id}", params={"min_seq": written, "wait_ms": 300}, headers=auth(tokens["hq"])
        )
        assert r.status_code == 504, r.text
        assert r.headers["content-type"].startswith("application/problem+json")
        assert r.json()["min_seq"] == written and str(written) in r.json()["detail"]
        r = await client.get(f"/v1/projects/{project_id}", params={"min_seq": -1}, headers=auth(tokens["hq"]))
        assert r.status_code == 422 and r.json()["errors"][0]["field"].endswith("min_seq")


async def test_epochs_only_grow_even_when_the_lease_bucket_is_recreated(settings: Settings) -> None:
    """Fencing epochs are taken in PostgreSQL, not from KV revisions, which start again in a new bucket."""

    async def epochs(rt: Runtime) -> dict[int, int]:
        async with rt.pool.acquire() as conn:
            rows = await conn.fetch(f"SELECT partition, epoch FROM {rt.schema}._checkpoint WHERE grp = 'proj'")
        return {r["partition"]: r["epoch"] for r in rows}

    async def claimed_after(floor: dict[int, int]) -> dict[int, int]:
        """Start a replica and wait until it has claimed every partition (each epoch above `floor`)."""
        async with counting_runtime(settings) as rt:

            async def all_claimed() -> bool:
                now = await epochs(rt)
                return len(now) == settings.partitions and all(e > floor.get(p, 0) for p, e in now.items())

            await wait_until(all_claimed, 20, "every partition claimed")
            return await epochs(rt)

    before = await claimed_after({})
    nc = await nats.connect(settings.nats_url)
    try:
        await nc.jetstream().delete_key_value(LEASE_BUCKET)  # an administrator recreates the bucket
    finally:
        await nc.close()
    await provision_at(settings.nats_url, StreamLayout.of(settings))
    after = await claimed_after(before)  # fails by timeout if any epoch went backwards or stood still
    assert all(after[p] > before[p] for p in before), (before, after)


class FlakyCountingReadModel(CountingReadModel):
    """Fails its first applications the way a busy database does (deadlock, lost connection)."""

    def __init__(self, failures: list[BaseException]) -> None:
        super().__init__("flaky")
        self.failures = failures

    async def apply(self, conn: asyncpg.Connection, schema: str, events: Sequence[StoredEvent]) -> None:
        if events and self.failures:
            raise self.failures.pop(0)
        await super().apply(conn, schema, events)


async def test_transient_failures_retry_the_batch_and_park_nothing(settings: Settings) -> None:
    failures: list[BaseException] = [
        asyncpg.exceptions.DeadlockDetectedError("deadlock detected"),
        asyncpg.exceptions.SerializationError("could not serialize access"),
        ConnectionResetError("connection reset by peer"),
    ]
    rt = await Runtime.start(COUNTER, settings, FlakyCountingReadModel(failures))
    try:
        writer = Writer(rt.store, aggregates=6)
        await writer.register_all()
        for aggregate in writer.ids:
            await writer.report(aggregate)
        assert await rt.runner.wait_for(await rt.store.last_seq(), 20)
        assert failures == [] and rt.runner.stats.retries >= 3
        await assert_exactly_once(rt.pool, rt.schema, rt.store)  # includes: nothing parked
    finally:
        await rt.stop()
