"""One aggregate's part of a read model: its table (state + filter columns, what commands or reactions load) beside a
ledger of every event of that aggregate type, one row each (a timeline to show, or steps to fold an aggregate as it
was known at an earlier time). issue_coordination and scheduling each keep two such parts (issues, 督办 orders)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import asyncpg

from shared.aggregate_table import AggregateTable, Row, RowTable
from shared.catalogue import CATALOGUE
from shared.ddl import lock_free_when_done
from shared.eventstore import StoredEvent


def _step_row(event: StoredEvent) -> Row:
    env = event.envelope
    return event.seq, env.aggregate_id, env.type, env.recorded_at, CATALOGUE.payload_of(event).model_dump_json()


def _timeline_row(event: StoredEvent) -> Row:
    env = event.envelope
    return (event.seq, env.aggregate_id, env.type, env.recorded_at, env.actor.org_id, env.actor.role.value,
            CATALOGUE.payload_of(event).model_dump_json())  # fmt: skip


def event_ledger(table: str, id_column: str, aggregate_type: str, *, with_actor: bool) -> RowTable:
    """Every event of `aggregate_type`: seq, the aggregate's id (as `id_column`), type, recorded_at, the payload,
    and with `with_actor` who recorded it (a timeline shown to people rather than folded)."""
    actor = {"actor_org_id": "text", "actor_role": "text"} if with_actor else {}
    columns = {"seq": "bigint", id_column: "text", "type": "text", "recorded_at": "timestamptz", **actor,
               "payload": "jsonb"}  # fmt: skip
    names = [name for name in CATALOGUE.names() if CATALOGUE.entry(name).aggregate_type == aggregate_type]
    return RowTable(table, columns, dict.fromkeys(names, _timeline_row if with_actor else _step_row))


TIMELINE_FIELDS = ("seq", "type", "recorded_at", "actor_org_id", "actor_role", "payload")  # what its queries answer


def timeline_rows(events: Sequence[StoredEvent]) -> list[dict[str, Any]]:
    """The rows a `with_actor` ledger holds of these events (payload as JSON text), without the aggregate's id: a
    timeline as of a moment is the aggregate's events recorded by then, read from the log (shared.time_travel)."""
    return [dict(zip(TIMELINE_FIELDS, row[:1] + row[2:], strict=True)) for row in map(_timeline_row, events)]


@dataclass(frozen=True)
class LedgeredAggregate:
    """A read-model part (shared.projection.ReadModel): the aggregate table, its ledger and their indexes (SQL with
    `{s}` for the schema)."""

    aggregate: AggregateTable[Any]
    ledger: RowTable
    indexes: str

    @property
    def tables(self) -> Sequence[str]:
        return (self.aggregate.table, self.ledger.table)

    async def create_tables(self, conn: asyncpg.Connection, schema: str) -> None:
        ddl = self.aggregate.ddl(schema) + self.ledger.ddl(schema) + self.indexes.format(s=schema)
        await conn.execute(lock_free_when_done(ddl))

    async def apply(self, conn: asyncpg.Connection, schema: str, events: Sequence[StoredEvent]) -> None:
        await self.aggregate.apply(conn, schema, events)
        await self.ledger.apply(conn, schema, events)
