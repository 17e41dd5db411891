"""Organisations and credentials through the one command shape, and the identity read model's bulk writes."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import asyncpg
import pytest
from pydantic import BaseModel

from shared.auth import IdentityReadModel, authenticate, token_digest
from shared.catalogue.identity import CredentialIssued, CredentialRevoked, OrganisationRegistered
from shared.envelope import Actor, Role, seal_envelope
from shared.eventstore import StoredEvent
from tests.intake.conftest import Intake
from tests.platform import auth


async def test_registering_an_organisation_and_revoking_a_credential_are_idempotent(intake: Intake) -> None:
    admin = auth(intake.tokens["admin"])
    before = await intake.runtime.store.last_seq()
    body = {"id": "unit-c", "name": "机构丙", "role": "unit"}
    first = await intake.client.post("/v1/organisations", json=body, headers=admin | {"Idempotency-Key": "org-c"})
    again = await intake.client.post("/v1/organisations", json=body, headers=admin | {"Idempotency-Key": "org-c"})
    assert first.status_code == again.status_code == 201, (first.text, again.text)
    assert first.json() == again.json() == {"id": "unit-c", "version": 1, "seq": before + 1}
    assert await intake.runtime.store.last_seq() == before + 1
    other = await intake.client.post("/v1/organisations", json=body, headers=admin | {"Idempotency-Key": "org-c2"})
    assert other.status_code == 409 and other.json()["errors"][0]["field"] == "id", other.text

    issued = await intake.client.post("/v1/organisations/unit-c/credentials", json={"label": "x"}, headers=admin)
    assert issued.status_code == 201, issued.text
    assert await intake.runtime.runner.wait_for(issued.json()["seq"], 5)
    revoke = f"/v1/organisations/unit-c/credentials/{issued.json()['credential_id']}/revoke"
    key = admin | {"Idempotency-Key": "revoke-1"}
    first = await intake.client.post(revoke, json={"reason": "离职"}, headers=key)
    assert await intake.runtime.runner.wait_for(first.json()["seq"], 5)  # the retry comes after it is projected
    again = await intake.client.post(revoke, json={"reason": "离职"}, headers=key)
    assert first.status_code == again.status_code == 200, (first.text, again.text)
    assert first.json() == again.json()
    assert await intake.runtime.store.last_seq() == first.json()["seq"]


async def test_a_credential_is_not_issued_under_an_idempotency_key_since_its_token_shows_only_once(
    intake: Intake,
) -> None:
    before = await intake.runtime.store.last_seq()
    r = await intake.client.post(
        "/v1/organisations/unit-b/credentials",
        json={"label": "备用"},
        headers=auth(intake.tokens["admin"], **{"Idempotency-Key": "issue-1"}),
    )
    assert r.status_code == 422, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["errors"] == [{"field": "Idempotency-Key", "reason": "不支持:令牌只显示一次"}]
    assert await intake.runtime.store.last_seq() == before


def stored(seq: int, org_id: str, version: int, event_type: str, payload: BaseModel) -> StoredEvent:
    envelope = seal_envelope(
        {
            "id": uuid.uuid4(), "type": event_type, "schema_version": 1, "aggregate_type": "organisation",
            "aggregate_id": org_id, "version": version, "occurred_at": datetime.now(UTC),
            "recorded_at": datetime.now(UTC), "actor": Actor(org_id="platform", role=Role.SYSTEM),
            "correlation_id": "test", "prev_hash": None, "payload": payload.model_dump(mode="json"),
        }
    )  # fmt: skip
    return StoredEvent(seq, f"t.ev.organisation.{org_id}", envelope)


async def test_the_identity_read_model_writes_a_batch_in_bulk_in_the_order_of_the_log(intake: Intake) -> None:
    """Issue and revoke in one batch, a registration and a move in the next: the rows say what the log says."""
    model, schema = IdentityReadModel(), "identity_bulk"
    token = {name: token_digest(name) for name in ("t1", "t2", "t3")}
    first = [
        stored(1, "org-a", 1, "OrganisationRegistered", OrganisationRegistered(name="甲", role=Role.UNIT)),
        stored(2, "org-a", 2, "CredentialIssued", CredentialIssued(credential_id="c1", token_sha256=token["t1"])),
        stored(3, "org-b", 1, "OrganisationRegistered", OrganisationRegistered(name="乙", role=Role.LEADER)),
        stored(4, "org-a", 3, "CredentialIssued", CredentialIssued(credential_id="c2", token_sha256=token["t2"])),
        stored(5, "org-a", 4, "CredentialRevoked", CredentialRevoked(credential_id="c1")),
    ]
    second = [
        stored(6, "org-b", 2, "CredentialIssued", CredentialIssued(credential_id="c3", token_sha256=token["t3"])),
        stored(7, "org-a", 5, "CredentialRevoked", CredentialRevoked(credential_id="c2")),
    ]
    async with intake.runtime.pool.acquire() as conn:
        await conn.execute(f"CREATE SCHEMA {schema}")
        await model.create_tables(conn, schema)
        async with conn.transaction():
            await model.apply(conn, schema, first)
        assert [await authenticate(conn, schema, t) is not None for t in ("t1", "t2", "t3")] == [False, True, False]
        async with conn.transaction():
            await model.apply(conn, schema, second)
        orgs = await conn.fetch(f"SELECT id, name, role, version, last_seq FROM {schema}.organisations ORDER BY id")
        creds = await conn.fetch(f"SELECT credential_id, org_id, revoked, issued_seq FROM {schema}.credentials")
        principal = await authenticate(conn, schema, "t3")
    assert [tuple(r) for r in orgs] == [("org-a", "甲", "unit", 5, 7), ("org-b", "乙", "leader", 2, 6)]
    assert sorted(tuple(r) for r in creds) == [
        ("c1", "org-a", True, 2),
        ("c2", "org-a", True, 4),
        ("c3", "org-b", False, 6),
    ]
    assert principal is not None and (principal.org_id, principal.role) == ("org-b", Role.LEADER)


async def test_a_second_registration_in_one_batch_is_refused_not_folded_over_the_first(intake: Intake) -> None:
    """Had the second won, an organisation registered as a unit would authenticate as an admin."""
    model, schema = IdentityReadModel(), "identity_twice"
    batch = [
        stored(1, "org-x", 1, "OrganisationRegistered", OrganisationRegistered(name="甲", role=Role.UNIT)),
        stored(2, "org-x", 2, "CredentialIssued", CredentialIssued(credential_id="c1", token_sha256=token_digest("t"))),
        stored(3, "org-x", 3, "OrganisationRegistered", OrganisationRegistered(name="甲", role=Role.ADMIN)),
    ]
    async with intake.runtime.pool.acquire() as conn:
        await conn.execute(f"CREATE SCHEMA {schema}")
        await model.create_tables(conn, schema)
        with pytest.raises(ValueError, match="registered twice"):
            async with conn.transaction():
                await model.apply(conn, schema, batch)
        async with conn.transaction():  # what the projection falls back to: the events one at a time
            await model.apply(conn, schema, batch[:1])
            await model.apply(conn, schema, batch[1:2])
        with pytest.raises(asyncpg.UniqueViolationError):
            async with conn.transaction():
                await model.apply(conn, schema, batch[2:])
        principal = await authenticate(conn, schema, "t")
    assert principal is not None and principal.role == Role.UNIT
