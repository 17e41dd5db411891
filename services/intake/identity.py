"""Organisations and credentials (admin only). Tokens are shown once, at issue; only their digest is kept."""

from __future__ import annotations

import uuid
from typing import Annotated

import asyncpg
from pydantic import BaseModel, ConfigDict, Field

from shared.auth import new_token, token_digest
from shared.catalogue import CATALOGUE
from shared.catalogue.identity import CredentialIssued, CredentialRevoked, OrganisationRegistered
from shared.commands import Outcome, execute
from shared.envelope import Role
from shared.eventstore import Context, EventStore, Position, StoredEvent
from shared.problems import Problem, field_error
from shared.runtime import Runtime


class OrganisationState(BaseModel):
    id: str
    name: str
    role: Role
    credentials: dict[str, bool] = Field(default_factory=dict)  # credential id -> revoked


class RegisterOrganisation(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    id: Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]{1,64}$")]
    name: Annotated[str, Field(min_length=1, max_length=200)]
    role: Role


class IssueCredential(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    label: str = Field(default="", max_length=200)


class RevokeCredential(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    reason: str = Field(default="", max_length=500)


def evolve(state: OrganisationState | None, event: StoredEvent) -> OrganisationState:
    env = event.envelope
    payload = CATALOGUE.load_payload(env.type, env.schema_version, env.payload)
    if isinstance(payload, OrganisationRegistered):
        return OrganisationState(id=env.aggregate_id, name=payload.name, role=payload.role)
    if state is None:
        raise ValueError(f"{env.type} before OrganisationRegistered")
    if isinstance(payload, CredentialIssued):
        return state.model_copy(update={"credentials": {**state.credentials, payload.credential_id: False}})
    if isinstance(payload, CredentialRevoked):
        return state.model_copy(update={"credentials": {**state.credentials, payload.credential_id: True}})
    raise ValueError(f"cannot apply {env.type} to an organisation")


class OrganisationAggregate:
    aggregate_type = "organisation"

    def evolve(self, state: OrganisationState | None, event: StoredEvent) -> OrganisationState:
        return evolve(state, event)

    async def load_row(
        self, conn: asyncpg.Connection, schema: str, aggregate_id: str
    ) -> tuple[OrganisationState | None, Position]:
        row = await conn.fetchrow(
            f"SELECT name, role, version, last_seq, last_hash FROM {schema}.organisations WHERE id = $1",
            aggregate_id,
        )
        if row is None:
            return None, Position()
        creds = await conn.fetch(
            f"SELECT credential_id, revoked FROM {schema}.credentials WHERE org_id = $1", aggregate_id
        )
        state = OrganisationState(
            id=aggregate_id,
            name=row["name"],
            role=Role(row["role"]),
            credentials={c["credential_id"]: c["revoked"] for c in creds},
        )
        return state, Position(row["version"], row["last_seq"], row["last_hash"])


ORGANISATIONS = OrganisationAggregate()


async def register_organisation(rt: Runtime, cmd: RegisterOrganisation, ctx: Context) -> Outcome:
    if cmd.role == Role.SYSTEM:
        raise field_error("role", "system is reserved for the platform")

    def decide(state: OrganisationState | None) -> OrganisationRegistered:
        if state is not None:
            raise field_error("id", "organisation already exists", 409)
        return OrganisationRegistered(name=cmd.name, role=cmd.role)

    return await execute(
        pool=rt.pool,
        store=rt.store,
        schema=rt.schema,
        spec=ORGANISATIONS,
        aggregate_id=cmd.id,
        decide=decide,
        context=ctx,
    )


async def issue_credential(rt: Runtime, org_id: str, cmd: IssueCredential, ctx: Context) -> tuple[Outcome, str, str]:
    token = new_token()
    credential_id = "c" + uuid.uuid4().hex[:16]

    def decide(state: OrganisationState | None) -> CredentialIssued:
        if state is None:
            raise Problem(404, "机构不存在")
        return CredentialIssued(credential_id=credential_id, token_sha256=token_digest(token), label=cmd.label)

    outcome = await execute(
        pool=rt.pool,
        store=rt.store,
        schema=rt.schema,
        spec=ORGANISATIONS,
        aggregate_id=org_id,
        decide=decide,
        context=ctx,
    )
    return outcome, credential_id, token


async def revoke_credential(
    rt: Runtime, org_id: str, credential_id: str, cmd: RevokeCredential, ctx: Context
) -> Outcome:
    def decide(state: OrganisationState | None) -> CredentialRevoked:
        if state is None:
            raise Problem(404, "机构不存在")
        if credential_id not in state.credentials:
            raise Problem(404, "凭据不存在")
        if state.credentials[credential_id]:
            raise Problem(409, "凭据已吊销")
        return CredentialRevoked(credential_id=credential_id, reason=cmd.reason)

    return await execute(
        pool=rt.pool,
        store=rt.store,
        schema=rt.schema,
        spec=ORGANISATIONS,
        aggregate_id=org_id,
        decide=decide,
        context=ctx,
    )


async def bootstrap_organisation(
    store: EventStore, org_id: str, name: str, role: Role, ctx: Context, *, demo: bool, label: str
) -> str:
    """Register an organisation with one credential straight on the log (used before any admin exists)."""
    existing = await store.read_aggregate("organisation", org_id)
    position = Position()
    for event in existing:
        position = position.after(event)
    if not existing:
        stored = await store.append(
            "organisation",
            org_id,
            OrganisationRegistered(name=name, role=role, demo=demo),
            expected=position,
            context=ctx,
        )
        position = position.after(stored)
    token = new_token()
    await store.append(
        "organisation",
        org_id,
        CredentialIssued(credential_id="c" + uuid.uuid4().hex[:16], token_sha256=token_digest(token), label=label),
        expected=position,
        context=ctx,
    )
    return token
