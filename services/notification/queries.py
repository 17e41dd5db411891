"""What the inbox API reads: one organisation's notifications (filtered, paged), its unread count, one
notification, and what follows a stream position (the live stream)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import asyncpg

from services.notification.domain import NotificationFacts

NOTIFICATION_FIELDS = (
    "notification_id, org_id, seq, recorded_at, source_event_id, source_event_type, rule_id, rule_version, urgency,"
    " title, body, link_kind, link_id, project_id, person, read_at, status, attempts, digest, digest_id"
)


@dataclass(frozen=True)
class InboxFilters:
    org_id: str
    unread: bool | None = None
    urgency: str | None = None


def _where(f: InboxFilters) -> tuple[str, list[Any]]:
    clauses, args = ["org_id = $1"], [f.org_id]
    if f.unread is not None:
        clauses.append("read_at IS NULL" if f.unread else "read_at IS NOT NULL")
    if f.urgency is not None:
        args.append(f.urgency)
        clauses.append(f"urgency = ${len(args)}")
    return " AND ".join(clauses), args


async def list_inbox(
    pool: asyncpg.Pool, schema: str, f: InboxFilters, *, limit: int, offset: int
) -> tuple[list[dict[str, Any]], int]:
    """Newest first."""
    where, args = _where(f)
    n = len(args)
    async with pool.acquire() as conn:
        total = await conn.fetchval(f"SELECT count(*) FROM {schema}.notifications WHERE {where}", *args)
        rows = await conn.fetch(
            f"SELECT {NOTIFICATION_FIELDS} FROM {schema}.notifications WHERE {where}"
            f" ORDER BY seq DESC LIMIT ${n + 1} OFFSET ${n + 2}",
            *args, limit, offset,
        )  # fmt: skip
    return [dict(r) for r in rows], int(total)


async def unread_count(pool: asyncpg.Pool, schema: str, org_id: str) -> int:
    async with pool.acquire() as conn:
        count = await conn.fetchval(f"SELECT unread FROM {schema}.inboxes WHERE id = $1", org_id)
    return int(count or 0)


async def notification_facts(pool: asyncpg.Pool, schema: str, notification_id: str) -> NotificationFacts | None:
    async with pool.acquire() as conn:
        row = await conn.fetchrow(
            f"SELECT org_id, read_at FROM {schema}.notifications WHERE notification_id = $1", notification_id
        )
    if row is None:
        return None
    return NotificationFacts(notification_id=notification_id, org_id=row["org_id"], read=row["read_at"] is not None)


async def after(pool: asyncpg.Pool, schema: str, org_id: str, seq: int, limit: int = 100) -> list[dict[str, Any]]:
    """An inbox's notifications requested after stream sequence `seq`, oldest first."""
    async with pool.acquire() as conn:
        rows = await conn.fetch(
            f"SELECT {NOTIFICATION_FIELDS} FROM {schema}.notifications WHERE org_id = $1 AND seq > $2"
            " ORDER BY seq LIMIT $3",
            org_id, seq, limit,
        )  # fmt: skip
    return [dict(r) for r in rows]
