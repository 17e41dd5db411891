"""Chain verification over the log itself: a clean log is intact; events forged for real (published to the stream as
the administrator would, past every service) are named with their sequence and reason; a run is recorded (a new
process answers its result) and two replicas asked at once run it once."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, datetime
from typing import Any

from shared.envelope import Actor, Role, seal_envelope
from shared.settings import Settings
from tests.audit.conftest import Audited
from tests.platform import running, runtime_of, wait_until

FORGER = Actor(org_id="hq", role=Role.HQ, user="forger")


def forged(
    settings: Settings, subject: tuple[str, str], envelope_aggregate: tuple[str, str], event_type: str,
    payload: dict[str, Any], *, version: int, prev_hash: str | None,
) -> tuple[str, bytes]:  # fmt: skip
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


def altered(data: bytes, **payload: Any) -> bytes:
    """The same event with its payload changed after it was hashed (the hash left as it was)."""
    document = json.loads(data)
    document["payload"].update(payload)
    return json.dumps(document, ensure_ascii=False).encode()


async def verify(audited: Audited, org: str = "hq") -> dict[str, Any]:
    r = await audited.audit.post("/v1/audit/verification", headers=audited.h(org))
    assert r.status_code == 202, r.text
    run_id = r.json()["id"]
    assert r.headers["location"] == f"/v1/audit/verification/{run_id}"

    async def done() -> bool:
        answer = await audited.get("/v1/audit/verification", org)
        return bool(answer["id"] == run_id and answer["status"] != "running")

    await wait_until(done, 60, "the verification run to finish")
    result = await audited.get("/v1/audit/verification", org)
    assert result["status"] == "completed", result
    return result


async def test_a_clean_log_is_intact(audited: Audited) -> None:
    r = await audited.audit.get("/v1/audit/verification", headers=audited.h("hq"))
    assert r.status_code == 404 and r.headers["content-type"] == "application/problem+json"
    await audited.project()
    last = await audited.audit_rt.store.last_seq()
    result = await verify(audited, "hq")
    assert result["intact"] is True and result["breaks"] == [] and result["broken_aggregates"] == 0
    assert result["events"] == result["until_seq"] == last
    assert result["requested_by"]["org_id"] == "hq"
    organisations = len({e["aggregate_id"] for e in (await audited.get("/v1/audit/events", limit=500))["items"]})
    assert result["aggregates"] == organisations


async def test_forged_and_altered_events_are_named(audited: Audited) -> None:
    project = await audited.project()
    [registered] = await audited.audit_rt.store.read_aggregate("project", project["id"])
    js, settings = audited.audit_rt.js, audited.settings
    amended = {"name": "伪造的名称", "change_request_id": None}
    # 1. Linkage right, bytes altered after hashing: every consumer applies it; only the recomputed hash shows it.
    subject, sound = forged(settings, ("project", project["id"]), ("project", project["id"]), "ProjectDetailsAmended",
                            amended, version=2, prev_hash=registered.envelope.hash)  # fmt: skip
    tampered = (await js.publish(subject, altered(sound, name="篡改后的名称"), stream=settings.stream)).seq
    # 2. Hashed right, but not linked to the chain: consumers park it; the run names it.
    programme = await audited.audit_rt.store.read_aggregate("programme", "prog")
    prog = ("programme", "prog")
    subject, unlinked = forged(settings, prog, prog, "ProgrammeRegistered", {"name": "伪造", "year": 2024},
                               version=len(programme) + 1, prev_hash="0" * 64)  # fmt: skip
    out_of_chain = (await js.publish(subject, unlinked, stream=settings.stream)).seq
    # 3. An envelope naming another aggregate than the subject it is stored on.
    subject, misplaced = forged(settings, ("project", "elsewhere"), ("project", project["id"]), "ProjectDetailsAmended",
                                amended, version=3, prev_hash=None)  # fmt: skip
    wrong_subject = (await js.publish(subject, misplaced, stream=settings.stream)).seq
    await audited.synced()

    result = await verify(audited)
    assert result["intact"] is False and result["broken_aggregates"] == 3 == result["breaks_total"]
    by_seq = {b["seq"]: b for b in result["breaks"]}
    assert set(by_seq) == {tampered, out_of_chain, wrong_subject}
    assert (by_seq[tampered]["aggregate_type"], by_seq[tampered]["aggregate_id"]) == ("project", project["id"])
    assert "hash does not match" in by_seq[tampered]["reason"]
    assert by_seq[out_of_chain]["aggregate_id"] == "prog"
    assert f"prev_hash does not match the hash of version {len(programme)}" in by_seq[out_of_chain]["reason"]
    assert by_seq[wrong_subject]["aggregate_id"] == "elsewhere"
    assert f"envelope names project/{project['id']}" in by_seq[wrong_subject]["reason"]
    assert result["events"] == result["until_seq"] == wrong_subject

    # The run is recorded: another process (a restart) answers the same result.
    again = audited.audit_app("audit-2")
    async with running(again) as client:
        r = await client.get("/v1/audit/verification", headers=audited.h("hq"))
        assert r.status_code == 200 and r.json() == result
        page = await client.get(f"/v1/audit/verification/{result['id']}", params={"limit": 1, "offset": 1},
                                headers=audited.h("hq"))  # fmt: skip
        assert page.json()["breaks"] == result["breaks"][1:2]
        assert runtime_of(again).schema == audited.audit_rt.schema


async def test_one_run_at_a_time_across_replicas_and_a_dead_holder_is_taken_over(audited: Audited) -> None:
    """A run held by a live process elsewhere (its row's heartbeat fresh) is the answer to every POST, on any
    replica, however many arrive at once; once its heartbeat is stale (the process died) the next POST starts anew."""
    await audited.project()
    runs = f"{audited.audit_rt.schema}_verification.verification_run"
    held = uuid.uuid4()
    async with audited.audit_rt.pool.acquire() as conn:
        await conn.execute(
            f"INSERT INTO {runs} (id, status, requested_by_org, requested_by_role, requested_at, until_seq, holder,"
            " heartbeat) VALUES ($1, 'running', 'hq', 'hq', now(), 1, 'audit-elsewhere', clock_timestamp())",
            held,
        )
    other = audited.audit_app("audit-2")
    async with running(other) as second:
        answers = await asyncio.gather(
            audited.audit.post("/v1/audit/verification", headers=audited.h("auditor")),
            second.post("/v1/audit/verification", headers=audited.h("hq")),
            second.post("/v1/audit/verification", headers=audited.h("auditor")),
        )
        assert [a.status_code for a in answers] == [202] * 3, [a.text for a in answers]
        assert {a.json()["id"] for a in answers} == {str(held)}
        assert {a.json()["status"] for a in answers} == {"running"}
        async with audited.audit_rt.pool.acquire() as conn:
            assert await conn.fetchval(f"SELECT count(*) FROM {runs}") == 1
            await conn.execute(f"UPDATE {runs} SET heartbeat = clock_timestamp() - interval '10 minutes'")
        stale = await audited.get(f"/v1/audit/verification/{held}")
        assert stale["status"] == "abandoned"
        r = await second.post("/v1/audit/verification", headers=audited.h("hq"))
        assert r.status_code == 202, r.text
        run_id = r.json()["id"]
        assert run_id != str(held)

        async def finished() -> bool:
            return bool((await audited.get(f"/v1/audit/verification/{run_id}"))["status"] == "completed")

        await wait_until(finished, 60, "the run to finish")
    async with audited.audit_rt.pool.acquire() as conn:
        statuses = dict(await conn.fetch(f"SELECT id::text, status FROM {runs}"))
    assert statuses == {str(held): "abandoned", run_id: "completed"}
