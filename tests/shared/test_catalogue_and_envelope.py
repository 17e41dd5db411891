"""The event catalogue file, the envelope's hash and the per-aggregate hash chain on the real log."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import rfc8785

from services.intake.bootstrap import create_app
from shared.catalogue import CATALOGUE
from shared.catalogue.export import render
from shared.settings import Settings
from tests.platform import auth, bootstrap_and_wait, project_body, running, runtime_of

ROOT = Path(__file__).resolve().parents[2]


def test_committed_catalogue_is_current() -> None:
    committed = (ROOT / "docs" / "events.schema.json").read_text(encoding="utf-8")
    assert committed == render(), "docs/events.schema.json is stale: run `make schema` and commit it"


def test_catalogue_names_are_past_tense_and_unique_per_aggregate() -> None:
    doc = json.loads(render())
    assert set(doc["events"]) == set(CATALOGUE.names())
    assert {"ProjectRegistered", "ProgressReported", "ProjectPhaseChanged", "CredentialRevoked"} <= set(doc["events"])
    for name, entry in doc["events"].items():
        assert name.endswith(("ed", "Assigned")), name
        assert entry["schema_version"] >= 1 and entry["payload"]["type"] == "object"
    envelope_fields = set(doc["envelope"]["properties"])
    assert envelope_fields == {
        "id", "type", "schema_version", "aggregate_type", "aggregate_id", "version", "occurred_at", "recorded_at",
        "actor", "causation_id", "correlation_id", "trace_context", "prev_hash", "hash", "payload",
    }  # fmt: skip


async def test_hash_chain_verifies_from_the_stored_bytes_alone(settings: Settings) -> None:
    app = create_app(settings)
    async with running(app) as client:
        rt = runtime_of(app)
        tokens = await bootstrap_and_wait(rt)
        r = await client.post(
            "/v1/programmes", json={"id": "prog", "name": "计划", "year": 2024}, headers=auth(tokens["hq"])
        )
        await client.get("/v1/programmes/prog", params={"min_seq": r.json()["seq"]}, headers=auth(tokens["hq"]))
        r = await client.post(
            "/v1/projects", json=project_body(), headers=auth(tokens["hq"], **{"X-Correlation-Id": "corr-42"})
        )
        project_id = r.json()["id"]
        for phase in ("under_construction", "completed"):
            await client.post(
                f"/v1/projects/{project_id}/phase",
                json={"phase": phase, "reason": "按计划"},
                headers=auth(tokens["hq"]),
            )
        subject = rt.store.stored_filter("project", project_id)
        prev = None
        seq = 0
        versions = []
        while True:
            try:
                msg = await rt.js.get_msg(settings.stream, seq=seq + 1, subject=subject, next=True, direct=True)
            except Exception:
                break
            assert msg.data is not None and msg.seq is not None
            seq = msg.seq
            # What an auditor does with an off-the-shelf JCS library and nothing of ours:
            doc = json.loads(msg.data)
            claimed = doc.pop("hash")
            assert hashlib.sha256(rfc8785.dumps(doc)).hexdigest() == claimed
            assert doc["prev_hash"] == prev
            prev = claimed
            versions.append(doc["version"])
            assert doc["actor"]["org_id"] == "hq" and doc["actor"]["role"] == "hq"
        assert versions == [1, 2, 3]
        first = (await rt.store.read_aggregate("project", project_id))[0].envelope
        assert first.correlation_id == "corr-42" and first.type == "ProjectRegistered"
        # Tampering with any byte of the payload breaks the hash.
        doc = json.loads(first.to_bytes())
        doc["payload"]["name"] = "改过的名字"
        claimed = doc.pop("hash")
        assert hashlib.sha256(rfc8785.dumps(doc)).hexdigest() != claimed


async def test_stream_denies_deletes_and_purges_and_keeps_everything(settings: Settings) -> None:
    app = create_app(settings)
    async with running(app):
        rt = runtime_of(app)
        info = await rt.js.stream_info(settings.stream)
        assert info.config.deny_delete and info.config.deny_purge
        assert not info.config.max_age and info.config.max_msgs in (-1, None) and info.config.max_bytes in (-1, None)
        await bootstrap_and_wait(rt)
        for attempt in (rt.js.purge_stream(settings.stream), rt.js.delete_msg(settings.stream, 1)):
            try:
                await attempt
            except Exception as exc:
                assert "not permitted" in str(exc) or "denied" in str(exc).lower(), exc
            else:
                raise AssertionError("the stream allowed a purge or delete")
        assert (await rt.store.get(1)).seq == 1
