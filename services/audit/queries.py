"""Reads of the event index (read_model.py): lists in log order, paged by a key (the last `seq` seen) and an
offset, each filter served by an index ending in `seq`."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import asyncpg

from services.audit.read_model import EVENT_INDEX

SELECTED = (
    "seq, event_id, type, schema_version, aggregate_type, aggregate_id, version, recorded_at, occurred_at, actor_org,"
    " actor_role, actor_user, on_behalf_of, correlation_id, causation_id, hash, prev_hash, payload"
)


@dataclass
class EventFilters:
    """Every condition is optional; `recorded_from` is inclusive, `recorded_to` exclusive."""

    aggregate_type: str | None = None
    aggregate_id: str | None = None
    correlation_id: str | None = None
    types: list[str] = field(default_factory=list)
    aggregate_types: list[str] | None = None  # None: any; a service's aggregate types (access log)
    actor_org: str | None = None
    recorded_from: datetime | None = None
    recorded_to: datetime | None = None
    # payload field -> value it must hold (as text); field names come from code, never from a request
    payload_equals: dict[str, str] = field(default_factory=dict)

    def where(self) -> tuple[str, list[Any]]:
        conditions: list[str] = []
        args: list[Any] = []

        def add(sql: str, value: Any) -> None:
            args.append(value)
            conditions.append(sql.format(f"${len(args)}"))

        if self.aggregate_type is not None:
            add("aggregate_type = {}", self.aggregate_type)
        if self.aggregate_id is not None:
            add("aggregate_id = {}", self.aggregate_id)
        if self.correlation_id is not None:
            add("correlation_id = {}", self.correlation_id)
        if self.types:
            add("type = ANY({}::text[])", self.types)
        if self.aggregate_types is not None:
            add("aggregate_type = ANY({}::text[])", self.aggregate_types)
        if self.actor_org is not None:
            add("actor_org = {}", self.actor_org)
        if self.recorded_from is not None:
            add("recorded_at >= {}", self.recorded_from)
        if self.recorded_to is not None:
            add("recorded_at < {}", self.recorded_to)
        for name, value in self.payload_equals.items():
            add(f"payload->>'{name}' = {{}}", value)
        return (" WHERE " + " AND ".join(conditions)) if conditions else "", args


@dataclass(frozen=True)
class EventsPage:
    rows: list[asyncpg.Record]
    total: int
    total_exact: bool
    has_more: bool


async def list_events(
    pool: asyncpg.Pool, schema: str, filters: EventFilters, *, after_seq: int, limit: int, offset: int
) -> EventsPage:
    """A page of the matching events after `after_seq`, in log order; whether more follow it; and how many match in
    all (any `after_seq`). Filtered, the total is an exact count over the filter's index. Unfiltered, it is the
    index's high-water mark, the highest sequence it holds (read from the primary key's end, not counted): the log
    has no gaps, so it equals the count unless the projection parked an event (the verification names those); an
    exact count(*) over millions of rows would cost seconds per page."""
    where, args = filters.where()
    keyed = f"{where} {'AND' if where else 'WHERE'} seq > ${len(args) + 1}"
    n = len(args) + 1
    async with pool.acquire() as conn:
        rows = await conn.fetch(
            f"SELECT {SELECTED} FROM {schema}.{EVENT_INDEX}{keyed} ORDER BY seq LIMIT ${n + 1} OFFSET ${n + 2}",
            *args, after_seq, limit + 1, offset,
        )  # fmt: skip
        if where:
            total = await conn.fetchval(f"SELECT count(*) FROM {schema}.{EVENT_INDEX}{where}", *args)
        else:
            total = await conn.fetchval(f"SELECT coalesce(max(seq), 0) FROM {schema}.{EVENT_INDEX}")
    return EventsPage(rows[:limit], int(total), total_exact=bool(where), has_more=len(rows) > limit)


async def event_by_id(pool: asyncpg.Pool, schema: str, event_id: str) -> asyncpg.Record | None:
    async with pool.acquire() as conn:
        row: asyncpg.Record | None = await conn.fetchrow(
            f"SELECT {SELECTED} FROM {schema}.{EVENT_INDEX} WHERE event_id = $1::uuid", event_id
        )
    return row


async def aggregate_events(
    pool: asyncpg.Pool, schema: str, aggregate_type: str, aggregate_id: str
) -> list[asyncpg.Record]:
    """Every indexed event of one aggregate, in log order."""
    filters = EventFilters(aggregate_type=aggregate_type, aggregate_id=aggregate_id)
    where, args = filters.where()
    async with pool.acquire() as conn:
        rows: list[asyncpg.Record] = await conn.fetch(
            f"SELECT {SELECTED} FROM {schema}.{EVENT_INDEX}{where} ORDER BY seq", *args
        )
    return rows
