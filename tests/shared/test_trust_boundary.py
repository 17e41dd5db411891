"""The log is the trust boundary: forged, misplaced and out-of-chain events are parked, never applied; a consumer that
lost deliveries to someone else never skips them; nothing a client sends but the trace context enters the log.

Against real NATS and PostgreSQL, through intake's real application.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

import nats.errors

from services.intake.bootstrap import create_app
from shared.auth import new_token, token_digest
from shared.envelope import Actor, Role, seal_envelope
from shared.names import consumer_name
from shared.runtime import Runtime
from shared.settings import Settings
from tests.platform import auth, bootstrap_and_wait, project_body, running, runtime_of, wait_until


def report(amount: int) -> dict[str, str]:
    """Report n covers day n of 2024 (a project's periods may not overlap)."""
    day = (date(2024, 1, 1) + timedelta(days=amount)).isoformat()
    return {"period_start": day, "period_end": day, "image_progress_pct": "10", "investment_this_period": str(amount)}


FORGER = Actor(org_id="scheduling", role=Role.SYSTEM, user="forger")


def forged(
    settings: Settings,
    subject: tuple[str, str],
    envelope_aggregate: tuple[str, str],
    event_type: str,
    payload: dict[str, Any],
    *,
    version: int = 1,
    prev_hash: str | None = None,
) -> tuple[str, bytes]:
    """A sound-looking envelope (its hash is right) published on a subject of the forger's choosing."""
    now = datetime.now(UTC)
    envelope = seal_envelope(
        {
            "id": uuid.uuid4(), "type": event_type, "schema_version": 1,
            "aggregate_type": envelope_aggregate[0], "aggregate_id": envelope_aggregate[1], "version": version,
            "occurred_at": now, "recorded_at": now, "actor": FORGER, "causation_id": None,
            "correlation_id": "forgery", "trace_context": {}, "prev_hash": prev_hash, "payload": payload,
        }
    )  # fmt: skip
    return f"{settings.subject_prefix}.ev.{subject[0]}.{subject[1]}", envelope.to_bytes()


async def parked(rt: Runtime) -> list[tuple[int, str]]:
    async with rt.pool.acquire() as conn:
        rows = await conn.fetch(f"SELECT seq, reason FROM {rt.schema}._dead_letter ORDER BY seq")
    return [(r["seq"], r["reason"]) for r in rows]


async def test_forged_credentials_are_parked_and_never_authenticate(settings: Settings) -> None:
    app = create_app(settings)
    async with running(app) as client:
        rt = runtime_of(app)
        await bootstrap_and_wait(rt)
        token = new_token()
        credential = {"credential_id": "forged", "token_sha256": token_digest(token), "label": "x"}
        attempts = [
            # scheduling's user may publish on plan subjects: an admin credential in the envelope, on a plan subject
            forged(settings, ("plan", "x"), ("organisation", "admin"), "CredentialIssued", credential),
            # envelope and subject agree, but a credential is not a plan's event
            forged(settings, ("plan", "y"), ("plan", "y"), "CredentialIssued", credential),
        ]
        seqs = [(await rt.js.publish(s, data, stream=settings.stream)).seq for s, data in attempts]
        assert await rt.runner.wait_for(seqs[-1], 10)
        reasons = dict(await parked(rt))
        assert set(reasons) == set(seqs), reasons
        assert "envelope names organisation/admin but the event is stored on plan/x" in reasons[seqs[0]]
        assert "CredentialIssued belongs to organisation, not to plan" in reasons[seqs[1]]
        r = await client.get("/v1/programmes", headers=auth(token))
        assert r.status_code == 401, r.text
        async with rt.pool.acquire() as conn:
            assert (
                await conn.fetchval(f"SELECT count(*) FROM {rt.schema}.credentials WHERE credential_id='forged'") == 0
            )
        r = await client.get("/readyz")
        assert r.status_code == 200 and r.json()["parked_events"] == 2, r.text
        status = (await client.get(f"/projection/{rt.service}")).json()
        assert status["parked"] == 2, status


async def test_events_that_do_not_follow_their_chain_are_parked(settings: Settings) -> None:
    app = create_app(settings)
    async with running(app) as client:
        rt = runtime_of(app)
        await bootstrap_and_wait(rt)
        [head] = (await rt.store.read_aggregate("organisation", "unit-a"))[-1:]
        version, real_hash = head.envelope.version, head.envelope.hash
        tokens = [new_token() for _ in range(3)]

        def credential(i: int) -> dict[str, Any]:
            return {"credential_id": f"c{i}", "token_sha256": token_digest(tokens[i]), "label": ""}

        subject = ("organisation", "unit-a")
        attempts = [
            forged(
                settings, subject, subject, "CredentialIssued", credential(0), version=version + 1, prev_hash="0" * 64
            ),
            forged(
                settings, subject, subject, "CredentialIssued", credential(1), version=version + 3, prev_hash=real_hash
            ),
        ]
        seqs = [(await rt.js.publish(s, data, stream=settings.stream)).seq for s, data in attempts]
        # The chain's head did not move with the parked events: the true continuation is applied.
        good = forged(settings, subject, subject, "CredentialIssued", credential(2), version=version + 1,
                      prev_hash=real_hash)  # fmt: skip
        last = (await rt.js.publish(good[0], good[1], stream=settings.stream)).seq
        assert await rt.runner.wait_for(last, 10)
        reasons = dict(await parked(rt))
        assert set(reasons) == set(seqs), reasons
        assert f"prev_hash does not match the hash of version {version}" in reasons[seqs[0]]
        assert f"version {version + 3} does not follow {version}" in reasons[seqs[1]]
        for i, expected in ((0, 401), (1, 401), (2, 200)):
            r = await client.get("/v1/programmes", headers=auth(tokens[i]))
            assert r.status_code == expected, (i, r.text)


async def test_deliveries_taken_by_a_straggler_are_never_skipped(settings: Settings) -> None:
    """A second puller on the projection's own consumer (what a replica that lost its lease does) takes messages;
    the holder sees its deliveries jump, recreates the consumer from its checkpoint, and applies every event once."""
    app = create_app(settings)
    async with running(app) as client:
        rt = runtime_of(app)
        tokens = await bootstrap_and_wait(rt)
        r = await client.post("/v1/programmes", json={"id": "prog", "name": "计划", "year": 2024},
                              headers=auth(tokens["hq"]))  # fmt: skip
        assert r.status_code == 201, r.text
        await client.get("/v1/programmes/prog", params={"min_seq": r.json()["seq"]}, headers=auth(tokens["hq"]))
        r = await client.post("/v1/projects", json=project_body(), headers=auth(tokens["hq"]))
        assert r.status_code == 201, r.text
        project_id = r.json()["id"]
        [first] = await rt.store.read_aggregate("project", project_id)
        name = consumer_name(rt.runner.service, "proj", first.partition)
        stolen: list[int] = []
        stop = asyncio.Event()

        async def straggler() -> None:
            sub = await rt.js.pull_subscribe_bind(durable=name, stream=settings.stream)
            try:
                while not stop.is_set():
                    with contextlib.suppress(nats.errors.Error, TimeoutError):
                        stolen.extend(m.metadata.sequence.stream for m in await sub.fetch(3, timeout=0.2))
            finally:
                await sub.unsubscribe()

        thief = asyncio.create_task(straggler())
        amounts = list(range(1, 41))
        for amount in amounts:
            r = await client.post(
                f"/v1/projects/{project_id}/progress-reports",
                json=report(amount),
                headers=auth(tokens["unit-a"]),
            )
            assert r.status_code == 201, r.text
        stop.set()
        await thief
        assert stolen, "the straggler never took a delivery: the test did not exercise anything"
        assert await rt.runner.wait_for(await rt.store.last_seq(), 20)
        async with rt.pool.acquire() as conn:
            reports = await conn.fetchval(f"SELECT count(*) FROM {rt.schema}.progress_reports")
        assert reports == len(amounts)
        r = await client.get(f"/v1/projects/{project_id}", headers=auth(tokens["hq"]))
        assert r.json()["reported_investment"] == str(sum(amounts))  # awaiting review: reported, not yet accepted
        assert rt.runner.stats.recreated >= 1
        assert await parked(rt) == []


async def test_only_the_trace_context_enters_the_log(settings: Settings) -> None:
    app = create_app(settings)
    async with running(app) as client:
        rt = runtime_of(app)
        tokens = await bootstrap_and_wait(rt)
        traceparent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
        r = await client.post(
            "/v1/programmes",
            json={"id": "prog", "name": "计划", "year": 2024},
            headers=auth(tokens["hq"], traceparent=traceparent, baggage="user=secret,phone=13800000000",
                         **{"X-Internal-Note": "not for the log"}),
        )  # fmt: skip
        assert r.status_code == 201, r.text
        stored = await rt.store.get(r.json()["seq"])
        assert set(stored.envelope.trace_context) <= {"traceparent", "tracestate"}
        assert stored.envelope.trace_context["traceparent"].split("-")[1] == traceparent.split("-")[1]
        msg = await rt.js.get_msg(settings.stream, seq=r.json()["seq"], direct=True)
        headers = {k.lower() for k in (msg.headers or {})}
        assert "baggage" not in headers and "x-internal-note" not in headers
        assert b"secret" not in (msg.data or b"") and b"13800000000" not in (msg.data or b"")
        await wait_until(lambda: rt.runner.wait_for(r.json()["seq"], 1), 10, "projection")
