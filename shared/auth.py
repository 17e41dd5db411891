"""Bearer-token identity: organisations and credentials, projected into every service's own schema.

Tokens are 256-bit random strings; only their sha256 is stored (in events and read models). Revoking a
credential is an event; each service's projection applies it within its lag, typically milliseconds.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import logging
import secrets
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import asyncpg
from pydantic import BaseModel

from shared.aggregate_table import POSITION_COLUMNS, Row, as_columns, insert_rows, unnest
from shared.catalogue import CATALOGUE
from shared.catalogue.identity import CredentialIssued, CredentialRevoked, OrganisationRegistered
from shared.envelope import Actor, Role
from shared.eventstore import StoredEvent

TOKEN_PREFIX = "tdu_"

log = logging.getLogger("tiaodu.auth")


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
        return self._actor

    @functools.cached_property
    def _actor(self) -> Actor:
        """Built once per principal (an Actor is immutable): a cached principal answers every request of its token."""
        return Actor(org_id=self.org_id, role=self.role, user=self.credential_id)


ORGANISATION_COLUMNS = {"id": "text", "name": "text", "role": "text", "demo": "boolean", "version": "int",
                        "last_seq": "bigint", "last_hash": "text"}  # fmt: skip
CREDENTIAL_COLUMNS = {"credential_id": "text", "org_id": "text", "token_sha256": "text", "label": "text",
                      "revoked": "boolean", "issued_seq": "bigint"}  # fmt: skip


@dataclass
class IdentityChanges:
    """What one batch of organisation events does to the identity tables, gathered to be written in bulk."""

    registered: dict[str, tuple[str, str, bool]] = field(default_factory=dict)  # org -> (name, role, demo)
    positions: dict[str, tuple[int, int, str]] = field(default_factory=dict)  # org -> (version, seq, hash)
    issued: list[Row] = field(default_factory=list)
    revoked: list[Row] = field(default_factory=list)  # (credential_id, org_id)

    def organisation_registered(self, event: StoredEvent, p: OrganisationRegistered) -> None:
        org = event.envelope.aggregate_id
        if org in self.positions:  # a second registration in one batch must not overwrite the first (its role!)
            raise ValueError(f"organisation {org} registered twice")
        self.registered[org] = (p.name, p.role.value, p.demo)

    def credential_issued(self, event: StoredEvent, p: CredentialIssued) -> None:
        self.issued.append((p.credential_id, event.envelope.aggregate_id, p.token_sha256, p.label, False, event.seq))

    def credential_revoked(self, event: StoredEvent, p: CredentialRevoked) -> None:
        self.revoked.append((p.credential_id, event.envelope.aggregate_id))

    async def write(self, conn: asyncpg.Connection, schema: str) -> None:
        # New organisations are inserted at their last position in the batch; the others only move on.
        new = [(org, *fields, *self.positions[org]) for org, fields in self.registered.items()]
        moved = [(org, *position) for org, position in self.positions.items() if org not in self.registered]
        await insert_rows(conn, f"{schema}.organisations", ORGANISATION_COLUMNS, new)
        if moved:
            await conn.execute(
                f"UPDATE {schema}.organisations o SET version = u.version, last_seq = u.last_seq,"
                f" last_hash = u.last_hash FROM {unnest(MOVED_COLUMNS)} WHERE o.id = u.id",
                *as_columns(moved, MOVED_COLUMNS),
            )
        await insert_rows(conn, f"{schema}.credentials", CREDENTIAL_COLUMNS, self.issued)
        if self.revoked:  # after the inserts: a credential may be issued and revoked in one batch
            await conn.execute(
                f"UPDATE {schema}.credentials c SET revoked = true"
                f" FROM {unnest(REVOKED_COLUMNS)}"
                " WHERE c.credential_id = u.credential_id AND c.org_id = u.org_id",
                *as_columns(self.revoked, REVOKED_COLUMNS),
            )


MOVED_COLUMNS = {"id": "text", **POSITION_COLUMNS}
REVOKED_COLUMNS = {"credential_id": "text", "org_id": "text"}

# event type -> how it changes the identity tables
APPLIERS: dict[type[BaseModel], Callable[[IdentityChanges, StoredEvent, Any], None]] = {
    OrganisationRegistered: IdentityChanges.organisation_registered,
    CredentialIssued: IdentityChanges.credential_issued,
    CredentialRevoked: IdentityChanges.credential_revoked,
}


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
        changes = IdentityChanges()
        for event in events:
            env = event.envelope
            if env.aggregate_type != "organisation":
                continue
            payload = CATALOGUE.payload_of(event)
            applier = APPLIERS.get(type(payload))
            if applier is None:
                raise ValueError(f"identity cannot apply {env.type} to an organisation")
            applier(changes, event, payload)
            changes.positions[env.aggregate_id] = (env.version, event.seq, env.hash)
        await changes.write(conn, schema)


async def authenticate(conn: asyncpg.Connection, schema: str, token: str) -> Principal | None:
    return await _principal_of(conn, schema, token_digest(token))


async def _principal_of(conn: asyncpg.Connection, schema: str, digest: str) -> Principal | None:
    row = await conn.fetchrow(
        f"SELECT o.id, o.role, o.name, c.credential_id FROM {schema}.credentials c "
        f"JOIN {schema}.organisations o ON o.id = c.org_id WHERE c.token_sha256 = $1 AND NOT c.revoked",
        digest,
    )
    if row is None:
        return None
    return Principal(org_id=row["id"], role=Role(row["role"]), name=row["name"], credential_id=row["credential_id"])


class PrincipalCache:
    """Who a token is, remembered for at most `ttl` seconds, so that a request needs no database round trip.

    A revocation takes effect within `ttl` on every process; in the process whose projection applies it, at once
    (`forget_all` runs after each committed batch holding identity events).

    An entry past half its life is read again in the background while it still answers: under load every request
    of a process carries one of a few tokens, and had an entry simply expired, all of that token's requests arriving
    during the read would wait on one PostgreSQL round trip (a few percent of the requests each second, the command
    p99). Only an entry that reached `ttl` before its refresh finished makes requests wait."""

    def __init__(
        self, ttl: float = 1.0, max_entries: int = 10_000, monotonic: Callable[[], float] = time.monotonic
    ) -> None:
        self.ttl = ttl
        self.monotonic = monotonic
        self.refresh_after = ttl / 2
        self.max_entries = max_entries
        # digest -> (principal, read from: entries are renewed after `refresh_after` and expire after `ttl`)
        self._entries: dict[str, tuple[Principal | None, float]] = {}
        # One read per token at a time: when an entry expires under load, the requests of that token arriving
        # during the read wait for it instead of each reading the same row (up to one per connection, measured).
        self._reading: dict[str, asyncio.Future[Principal | None]] = {}
        self._refreshes: set[asyncio.Task[Principal | None]] = set()  # held until done (the loop keeps weak refs)
        self._forgotten = 0  # forget_all calls: a read begun before one is answered but not remembered
        self.reads = 0

    async def principal(self, pool: asyncpg.Pool, schema: str, token: str) -> Principal | None:
        digest = token_digest(token)
        hit = self._entries.get(digest)
        if hit is not None:
            age = self.monotonic() - hit[1]
            if age < self.ttl:
                if age >= self.refresh_after and digest not in self._reading:
                    self._refresh(pool, schema, digest)
                return hit[0]
        reading = self._reading.get(digest)
        if reading is not None:
            return await asyncio.shield(reading)
        return await self._read(pool, schema, digest, *self._begin(digest))

    @property
    def refreshing(self) -> int:
        """Background reads under way."""
        return len(self._refreshes)

    def _refresh(self, pool: asyncpg.Pool, schema: str, digest: str) -> None:
        task = asyncio.create_task(self._read(pool, schema, digest, *self._begin(digest)), name="principal-refresh")
        self._refreshes.add(task)
        task.add_done_callback(self._refreshed)

    def _refreshed(self, task: asyncio.Task[Principal | None]) -> None:
        self._refreshes.discard(task)
        if not task.cancelled() and (exc := task.exception()) is not None:
            # The entry answers until `ttl`; then a request reads in the foreground and meets the failure itself.
            log.warning("refreshing a principal failed: %s: %s", type(exc).__name__, exc)

    def _begin(self, digest: str) -> tuple[asyncio.Future[Principal | None], int]:
        """A read of `digest` under way from now on (before its task first runs: no second one begins)."""
        reading: asyncio.Future[Principal | None] = asyncio.get_running_loop().create_future()
        self._reading[digest] = reading
        return reading, self._forgotten

    async def _read(
        self, pool: asyncpg.Pool, schema: str, digest: str, reading: asyncio.Future[Principal | None], forgotten: int
    ) -> Principal | None:
        try:
            started = self.monotonic()  # the entry's life counts from before the read: never longer than `ttl`
            self.reads += 1
            async with pool.acquire() as conn:
                principal = await _principal_of(conn, schema, digest)
        except BaseException as exc:
            reading.set_exception(exc)
            reading.exception()  # retrieved: nobody may be waiting
            raise
        finally:
            if self._reading.get(digest) is reading:
                del self._reading[digest]
        if forgotten == self._forgotten:
            if len(self._entries) >= self.max_entries:
                self._entries.clear()  # rare (10,000 live tokens within a second): start again rather than scan
            self._entries[digest] = (principal, started)
        reading.set_result(principal)
        return principal

    def forget(self, token: str) -> None:
        """Read this token again at its next request (it may have been issued since it was found unknown)."""
        digest = token_digest(token)
        self._entries.pop(digest, None)
        self._reading.pop(digest, None)

    def forget_all(self) -> None:
        self._forgotten += 1
        self._entries.clear()
        self._reading.clear()  # a request from now on reads again rather than join a read begun before
