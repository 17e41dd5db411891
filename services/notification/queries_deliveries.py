"""What the delivery log and the dead letters answer: attempts filtered by recipient, channel, outcome and period;
the notifications whose last round failed; one notification's delivery."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg


@dataclass(frozen=True)
class AttemptFilters:
    org_id: str | None = None  # None: every recipient (hq, the auditor)
    channel: str | None = None
    outcome: str | None = None
    start: datetime | None = None
    end: datetime | None = None
    notification_id: str | None = None


def _where(f: AttemptFilters) -> tuple[str, list[Any]]:
    clauses: list[str] = []
    args: list[Any] = []
    for column, op, value in (
        ("a.org_id", "=", f.org_id), ("a.channel", "=", f.channel), ("a.outcome", "=", f.outcome),
        ("a.attempted_at", ">=", f.start), ("a.attempted_at", "<", f.end),
        ("a.notification_id", "=", f.notification_id),
    ):  # fmt: skip
        if value is not None:
            args.append(value)
            clauses.append(f"{column} {op} ${len(args)}")
    return (" AND ".join(clauses) or "TRUE"), args


async def list_attempts(
    pool: asyncpg.Pool, schema: str, f: AttemptFilters, *, limit: int, offset: int
) -> tuple[list[dict[str, Any]], int]:
    """Newest first."""
    where, args = _where(f)
    n = len(args)
    async with pool.acquire() as conn:
        total = await conn.fetchval(f"SELECT count(*) FROM {schema}.delivery_attempts a WHERE {where}", *args)
        rows = await conn.fetch(
            f"SELECT a.*, n.title FROM {schema}.delivery_attempts a"
            f" LEFT JOIN {schema}.notifications n USING (notification_id) WHERE {where}"
            f" ORDER BY a.attempted_at DESC, a.seq DESC LIMIT ${n + 1} OFFSET ${n + 2}",
            *args, limit, offset,
        )  # fmt: skip
    return [dict(r) for r in rows], int(total)


async def list_dead_letters(
    pool: asyncpg.Pool, schema: str, org_id: str | None, *, limit: int, offset: int
) -> tuple[list[dict[str, Any]], int]:
    """Notifications whose current round ended without delivery, the latest first."""
    where = "d.status = 'failed'" + (" AND d.org_id = $1" if org_id is not None else "")
    args: list[Any] = [org_id] if org_id is not None else []
    n = len(args)
    async with pool.acquire() as conn:
        total = await conn.fetchval(f"SELECT count(*) FROM {schema}.deliveries d WHERE {where}", *args)
        rows = await conn.fetch(
            f"SELECT d.notification_id, d.org_id, d.round, d.attempts, d.last_channel, d.reason, d.updated_at,"
            f" n.title, n.urgency, n.person, n.recorded_at FROM {schema}.deliveries d"
            f" LEFT JOIN {schema}.notifications n USING (notification_id) WHERE {where}"
            f" ORDER BY d.updated_at DESC, d.notification_id LIMIT ${n + 1} OFFSET ${n + 2}",
            *args, limit, offset,
        )  # fmt: skip
    return [dict(r) for r in rows], int(total)


@dataclass(frozen=True)
class DeliveryRow:
    notification_id: str
    org_id: str
    status: str
    round: int


async def delivery_row(pool: asyncpg.Pool, schema: str, notification_id: str) -> DeliveryRow | None:
    async with pool.acquire() as conn:
        row = await conn.fetchrow(
            f"SELECT notification_id, org_id, status, round FROM {schema}.deliveries WHERE notification_id = $1",
            notification_id,
        )
    return None if row is None else DeliveryRow(**dict(row))
