"""Bearer-token identity: organisations and credentials, projected into every service's own schema.

Tokens are 256-bit random strings; only their sha256 is stored (in events and read models). Revoking a
credential is an event; each service's projection applies it within its lag, typically milliseconds.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Sequence
from dataclasses import dataclass

import asyncpg

from shared.catalogue import CATALOGUE
from shared.catalogue.identity import CredentialIssued, CredentialRevoked, OrganisationRegistered
from shared.envelope import Actor, Role
from shared.eventstore import StoredEvent

TOKEN_PREFIX = "tdu_"


def new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class Principal:
    org_id: str
    role: Role
    name: str
    credential_id: str

    def actor(self) -> Actor:
        return Actor(org_id=self.org_id, role=self.role, user=self.credential_id)


class IdentityReadModel:
    """Organisations and credentials; part of every service's read model."""

    tables = ("organisations", "credentials")

    async def create_tables(self, conn: asyncpg.Connection, schema: str) -> None:
        await conn.execute(
            f"""
            CREATE TABLE IF NOT EXISTS {schema}.organisations (
                id text PRIMARY KEY, name text NOT NULL, role text NOT NULL, demo boolean NOT NULL,
                version int NOT NULL, last_seq bigint NOT NULL, last_hash text NOT NULL);
            CREATE TABLE IF NOT EXISTS {schema}.credentials (
                credential_id text PRIMARY KEY, org_id text NOT NULL, token_sha256 text NOT NULL UNIQUE,
                label text NOT NULL, revoked boolean NOT NULL DEFAULT false, issued_seq bigint NOT NULL);
            """
        )

    async def apply(self, conn: asyncpg.Connection, schema: str, events: Sequence[StoredEvent]) -> None:
        for event in events:
            env = event.envelope
            if env.aggregate_type != "organisation":
                continue
            payload = CATALOGUE.load_payload(env.type, env.schema_version, env.payload)
            if isinstance(payload, OrganisationRegistered):
                await conn.execute(
                    f"INSERT INTO {schema}.organisations VALUES ($1, $2, $3, $4, $5, $6, $7)",
                    env.aggregate_id,
                    payload.name,
                    payload.role.value,
                    payload.demo,
                    env.version,
                    event.seq,
                    env.hash,
                )
                continue
            await conn.execute(
                f"UPDATE {schema}.organisations SET version = $2, last_seq = $3, last_hash = $4 WHERE id = $1",
                env.aggregate_id,
                env.version,
                event.seq,
                env.hash,
            )
            if isinstance(payload, CredentialIssued):
                await conn.execute(
                    f"INSERT INTO {schema}.credentials VALUES ($1, $2, $3, $4, false, $5)",
                    payload.credential_id,
                    env.aggregate_id,
                    payload.token_sha256,
                    payload.label,
                    event.seq,
                )
            elif isinstance(payload, CredentialRevoked):
                await conn.execute(
                    f"UPDATE {schema}.credentials SET revoked = true WHERE credential_id = $1 AND org_id = $2",
                    payload.credential_id,
                    env.aggregate_id,
                )


async def authenticate(conn: asyncpg.Connection, schema: str, token: str) -> Principal | None:
    row = await conn.fetchrow(
        f"SELECT o.id, o.role, o.name, c.credential_id FROM {schema}.credentials c "
        f"JOIN {schema}.organisations o ON o.id = c.org_id WHERE c.token_sha256 = $1 AND NOT c.revoked",
        token_digest(token),
    )
    if row is None:
        return None
    return Principal(org_id=row["id"], role=Role(row["role"]), name=row["name"], credential_id=row["credential_id"])
