"""The event catalogue file, the envelope's hash and the per-aggregate hash chain on the real log."""

from __future__ import annotations

import hashlib
import json
import random
import uuid
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
import rfc8785
from pydantic import ValidationError
from pydantic_core import to_json

from services.intake.bootstrap import create_app
from shared import envelope as envelope_module
from shared.catalogue import CATALOGUE
from shared.catalogue.export import render
from shared.envelope import Actor, Role, canonical_json, parse_envelope, seal_envelope
from shared.settings import Settings
from tests.platform import auth, bootstrap_and_wait, project_body, running, runtime_of

ROOT = Path(__file__).resolve().parents[2]
PROGRESS = {
    "report_id": "r1",
    "period_start": "2024-03-01",
    "period_end": "2024-03-07",
    "investment_this_period": "1",
    "cumulative_investment": "1",
    "image_progress_pct": "1",
}


def test_committed_catalogue_is_current() -> None:
    committed = (ROOT / "docs" / "events.schema.json").read_text(encoding="utf-8")
    assert committed == render(), "docs/events.schema.json is stale: run `make schema` and commit it"


def test_catalogue_names_are_past_tense_and_unique_per_aggregate() -> None:
    doc = json.loads(render())
    assert set(doc["events"]) == set(CATALOGUE.names())
    assert {"ProjectRegistered", "ProgressReported", "ProjectPhaseChanged", "CredentialRevoked"} <= set(doc["events"])
    for name, entry in doc["events"].items():
        assert name.endswith(("ed", "Withdrawn", "Read")), name  # past participles, regular or not
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


def _random_json(rng: random.Random, depth: int = 0) -> object:
    alphabet = ["a", "Z", "0", " ", '"', "\\", "/", "\x00", "\x1f", "\x7f", "\n", "\t", "\u2028", "é", "项目",
                "\ue000", "\uffff", "😀", "\U0010ffff", "\ud800"]  # fmt: skip
    kind = rng.randrange(9 if depth < 3 else 6)
    if kind == 0:
        return "".join(rng.choice(alphabet) for _ in range(rng.randrange(6)))
    if kind == 1:
        return rng.choice([0, -1, 7, 2**53 - 1, -(2**53 - 1), 123456789])
    if kind == 2:
        return rng.choice([0.5, 1.0, -0.0, 1e21, 1e-7, 3.14159, 100.0])
    if kind == 3:
        return rng.choice([True, False, None])
    if kind in (4, 5):
        return rng.choice(["plain", "项目名称", "x" * 40])
    if kind in (6, 7):
        keys = ["id", "b", "A", "é", "😀", "\ue000", "项目", "a b"] if rng.random() < 0.3 else ["id", "b", "A", "c_d"]
        return {rng.choice(keys): _random_json(rng, depth + 1) for _ in range(rng.randrange(5))}
    return [_random_json(rng, depth + 1) for _ in range(rng.randrange(4))]


def test_canonical_json_is_rfc8785_byte_for_byte() -> None:
    """The fast path (the standard library's encoder) must give exactly the reference implementation's bytes, or
    hand over to it: strings with every escape class, non-BMP keys that sort differently in UTF-16, floats."""
    rng = random.Random(8785)
    fast = 0
    for _ in range(5000):
        doc = {"k": _random_json(rng), "id": _random_json(rng)}
        try:
            expected = bytes(rfc8785.dumps(doc))
        except Exception as exc:  # the reference refuses (lone surrogate...): so must we
            with pytest.raises(type(exc)):
                canonical_json(doc)
            continue
        assert canonical_json(doc) == expected, doc
        fast += envelope_module._sorted_plain(doc) is not envelope_module._NOT_PLAIN
    assert fast > 1000  # the fast path was really exercised


def test_the_fast_encoder_escapes_every_code_point_as_rfc8785_does() -> None:
    """The premise of the fast path: pydantic-core's JSON string for each character (every escape class, U+2028,
    DEL, non-BMP) is byte for byte the reference implementation's."""
    chars = [chr(cp) for cp in range(0x110000) if not 0xD800 <= cp <= 0xDFFF]
    for start in range(0, len(chars), 4096):
        chunk = chars[start : start + 4096]
        assert to_json(chunk) == bytes(rfc8785.dumps(chunk)), f"from U+{ord(chunk[0]):04X}"


def test_the_stored_bytes_are_the_canonical_envelope_with_its_hash() -> None:
    """The hash member is spliced into the unsigned JCS bytes (one canonicalisation per append): byte for byte the
    reference implementation's JCS of the whole envelope, whatever the payload holds."""
    rng = random.Random(130)
    for _ in range(500):
        fields = {
            "id": uuid.uuid4(), "type": "ProgrammeCreated", "schema_version": 1, "aggregate_type": "programme",
            "aggregate_id": "p1", "version": 1, "occurred_at": datetime.now(UTC), "recorded_at": datetime.now(UTC),
            "actor": Actor(org_id=rng.choice(["hq", "单位", "u\\x"]), role=Role.HQ), "correlation_id": "c",
            "prev_hash": rng.choice([None, "ab" * 32]), "payload": {"k": _random_json(rng), "名称": 1},
        }  # fmt: skip
        try:
            envelope, stored = envelope_module.encode_envelope(fields)
        except rfc8785.CanonicalizationError:
            continue  # a lone surrogate in the payload: refused as the reference refuses it (test above)
        expected = bytes(rfc8785.dumps(envelope.model_dump(mode="json")))
        assert stored == expected
        assert parse_envelope(stored, verify_hash=True) == envelope


@pytest.mark.parametrize("bad", ["abc\n", "", "a.b", "a b", "项目", "x" * 129, "a*"])
def test_aggregate_ids_and_types_are_whole_subject_tokens(bad: str) -> None:
    """They become NATS subject tokens: a final newline (which Python's `$` would let through), a dot, a space or a
    wildcard is refused, naming the field."""
    fields = {
        "id": str(uuid.uuid4()), "type": "ProgrammeCreated", "schema_version": 1, "aggregate_type": "programme",
        "aggregate_id": "p1", "version": 1, "occurred_at": "2024-01-01T00:00:00Z", "hash": "",
        "recorded_at": "2024-01-01T00:00:00Z", "actor": {"org_id": "hq", "role": "hq"}, "correlation_id": "c",
        "prev_hash": None, "payload": {},
    }  # fmt: skip
    for field in ("aggregate_id", "aggregate_type"):
        with pytest.raises(ValueError, match=field):
            parse_envelope(json.dumps({**fields, field: bad}).encode())
    assert parse_envelope(json.dumps(fields).encode()).aggregate_id == "p1"


def test_parse_envelope_verifies_the_hash_only_when_asked() -> None:
    envelope = seal_envelope(
        {
            "id": uuid.uuid4(), "type": "ProgrammeCreated", "schema_version": 1, "aggregate_type": "programme",
            "aggregate_id": "p1", "version": 1, "occurred_at": datetime.now(UTC), "recorded_at": datetime.now(UTC),
            "actor": Actor(org_id="hq", role=Role.HQ), "correlation_id": "c", "prev_hash": None,
            "payload": {"name": "计划", "year": 2024},
        }
    )  # fmt: skip
    altered = envelope.to_bytes().replace("计划".encode(), "改过".encode())
    assert parse_envelope(altered).payload["name"] == "改过"  # linkage, not bytes, is what consumers check
    with pytest.raises(ValueError, match="hash does not match"):
        parse_envelope(altered, verify_hash=True)
    assert parse_envelope(envelope.to_bytes(), verify_hash=True) == envelope


@pytest.mark.parametrize("value", [0, 1718000000, "2024-03-01T00:00:00", "20240301", "2024-02-30", "", None, True])
def test_a_day_is_an_iso_calendar_date_and_nothing_else(value: object) -> None:
    """Lax pydantic would read 0 as 1970-01-01 and a midnight timestamp as its day: every one is refused by name."""
    with pytest.raises(ValidationError) as caught:
        CATALOGUE.load_payload("ProgressReported", 1, {**PROGRESS, "period_start": value})
    assert caught.value.errors()[0]["loc"] == ("period_start",)


def test_a_day_written_yyyy_mm_dd_or_given_as_a_date_is_taken() -> None:
    from_json = CATALOGUE.load_payload("ProgressReported", 1, PROGRESS)
    from_code = CATALOGUE.load_payload("ProgressReported", 1, {**PROGRESS, "period_start": date(2024, 3, 1)})
    assert from_json == from_code and from_json.period_start == date(2024, 3, 1)  # type: ignore[attr-defined]
