"""One read-model table per aggregate type, holding each aggregate's folded state and its position.

The same table serves the projection (fold a batch in memory, one SELECT and one bulk upsert) and the command
side (`load_row`: the state a command decides on, plus where the aggregate stands in the log).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import asyncpg
from pydantic import BaseModel

from shared.db import ident
from shared.eventstore import Position, StoredEvent

S = TypeVar("S", bound=BaseModel)


@dataclass
class AggregateTable(Generic[S]):
    table: str
    aggregate_type: str
    model: type[S]
    fold: Callable[[S | None, StoredEvent], S]
    # Extra columns for filtering, derived from the state: name -> (SQL type, getter)
    columns: dict[str, tuple[str, Callable[[S], Any]]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        ident(self.table)
        for name in self.columns:
            ident(name)

    def ddl(self, schema: str) -> str:
        extra = "".join(f", {name} {sql_type}" for name, (sql_type, _) in self.columns.items())
        return (
            f"CREATE TABLE IF NOT EXISTS {schema}.{self.table} (id text PRIMARY KEY{extra}, version int NOT NULL,"
            f" last_seq bigint NOT NULL, last_hash text NOT NULL, state jsonb NOT NULL);"
        )

    def evolve(self, state: S | None, event: StoredEvent) -> S:
        return self.fold(state, event)

    async def load_row(self, conn: asyncpg.Connection, schema: str, aggregate_id: str) -> tuple[S | None, Position]:
        row = await conn.fetchrow(
            f"SELECT state, version, last_seq, last_hash FROM {schema}.{self.table} WHERE id = $1", aggregate_id
        )
        if row is None:
            return None, Position()
        return self.model.model_validate_json(row["state"]), Position(row["version"], row["last_seq"], row["last_hash"])

    async def load_states(self, conn: asyncpg.Connection, schema: str, ids: Sequence[str]) -> dict[str, S]:
        rows = await conn.fetch(f"SELECT id, state FROM {schema}.{self.table} WHERE id = ANY($1)", list(ids))
        return {r["id"]: self.model.model_validate_json(r["state"]) for r in rows}

    async def apply(self, conn: asyncpg.Connection, schema: str, events: Sequence[StoredEvent]) -> dict[str, S]:
        """Fold this aggregate type's events of a batch into the table; returns the new states by id."""
        mine = [e for e in events if e.envelope.aggregate_type == self.aggregate_type]
        if not mine:
            return {}
        states: dict[str, S | None] = dict(
            await self.load_states(conn, schema, list({e.envelope.aggregate_id for e in mine}))
        )
        last: dict[str, StoredEvent] = {}
        for event in mine:
            key = event.envelope.aggregate_id
            states[key] = self.fold(states.get(key), event)
            last[key] = event
        names = list(self.columns)
        placeholders = ", ".join(f"${i}" for i in range(1, len(names) + 6))
        updates = ", ".join(f"{n} = EXCLUDED.{n}" for n in [*names, "version", "last_seq", "last_hash", "state"])
        await conn.executemany(
            f"INSERT INTO {schema}.{self.table} (id, {''.join(n + ', ' for n in names)}version, last_seq, last_hash,"
            f" state) VALUES ({placeholders}) ON CONFLICT (id) DO UPDATE SET {updates}",
            [
                (
                    key,
                    *(getter(state) for _, getter in self.columns.values()),
                    last[key].envelope.version,
                    last[key].seq,
                    last[key].envelope.hash,
                    state.model_dump_json(),
                )
                for key, state in states.items()
                if state is not None and key in last
            ],
        )
        return {k: v for k, v in states.items() if v is not None and k in last}
