"""Read-model tables that are written in bulk: one statement per table and batch, never a round trip per event.

- `AggregateTable`: one row per aggregate holding its folded state and its position. The same table serves the
  projection (fold a batch in memory, one SELECT, one upsert) and the command side (`load_row`: the state a
  command decides on, plus where the aggregate stands in the log).
- `RowTable`: a ledger with one row per event of some types; a table `event type -> row` says which events add a
  row and what it holds.
- `insert_rows`: the bulk INSERT both use (`unnest` over one array per column).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Generic, Protocol, TypeVar

import asyncpg
from pydantic import BaseModel

from shared.catalogue import CATALOGUE
from shared.db import ident
from shared.envelope import Envelope
from shared.eventstore import Position, StoredEvent

S = TypeVar("S", bound=BaseModel)

Row = tuple[Any, ...]


class BulkTable(Protocol):
    """What a read model needs of each of its tables: its DDL, and how a batch of events changes it."""

    def ddl(self, schema: str) -> str: ...

    async def apply(self, conn: asyncpg.Connection, schema: str, events: Sequence[StoredEvent]) -> object: ...


POSITION_COLUMNS = {"version": "int", "last_seq": "bigint", "last_hash": "text"}

# An aggregate table may keep its aggregates' folded state every `snapshot_every` versions, beside its live row in
# `<table>_snapshots`, so that time travel (shared.time_travel.fold_as_of) reads at most that many of an aggregate's
# events from the log instead of all of them: over a million-event log each event of a long-lived aggregate read
# costs the server a lookup across the log's blocks (~80 us of nats-server CPU each, measured), and a project's few
# hundred made the as-of read's tail. Only tables whose state stays small as versions grow opt in (a state that
# grows with its versions would make its snapshots grow with the square of them); a state over
# SNAPSHOT_MAX_BYTES is not kept all the same, and the read folds from an earlier snapshot or the first event.
SNAPSHOT_MAX_BYTES = 32_768
SNAPSHOT_COLUMNS = {
    "id": "text", "version": "int", "seq": "bigint", "hash": "text", "subject": "text", "recorded_at": "timestamptz",
    "state": "jsonb",
}  # fmt: skip


T = TypeVar("T")


@dataclass(frozen=True)
class Snapshot(Generic[T]):
    """An aggregate's state after the event at `position`, recorded at `recorded_at` (stored as `subject`)."""

    state: T
    position: Position
    subject: str
    recorded_at: datetime


def _is_array(sql_type: str) -> bool:
    return sql_type.endswith("[]")


def _as_text(sql_type: str, numeric_as_text: bool) -> bool:
    return _is_array(sql_type) or (numeric_as_text and sql_type == "numeric")


def unnest(columns: Mapping[str, str], *, numeric_as_text: bool = False) -> str:
    """`unnest($1::text[], $2::int[], ...) AS u(a, b, ...)`: a batch of rows as one array per column.

    `unnest` cannot carry an array per row (a 2-D array has one length), so array columns travel as JSON text.
    `numeric_as_text`: numeric columns travel as text too, for a SELECT that casts them back (`insert_rows`): the
    exact text of a Decimal costs the client a third of asyncpg's binary numeric encoding (0.3 us against 1.1 us a
    value, measured), which was the largest part of encoding a rebuild's rows."""
    arrays = ", ".join(
        f"${i}::{'text' if _as_text(sql_type, numeric_as_text) else sql_type}[]"
        for i, sql_type in enumerate(columns.values(), start=1)
    )
    return f"unnest({arrays}) AS u({', '.join(columns)})"


def _selected(name: str, sql_type: str) -> str:
    """The SELECT's expression of a column `unnest(..., numeric_as_text=True)` gives."""
    if sql_type == "numeric":
        return f"u.{name}::numeric"
    if not _is_array(sql_type):
        return name
    elements = f"ARRAY(SELECT jsonb_array_elements_text(u.{name}::jsonb))::{sql_type}"
    return f"CASE WHEN u.{name} IS NULL THEN NULL ELSE {elements} END"


def as_columns(rows: Sequence[Row], columns: Mapping[str, str], *, numeric_as_text: bool = False) -> list[list[Any]]:
    """Rows to one list per column, the parameters of `unnest` (array values as JSON text; numerics as their exact
    text with `numeric_as_text`)."""
    out: list[list[Any]] = []
    for i, sql_type in enumerate(columns.values()):
        if _is_array(sql_type):
            out.append([None if row[i] is None else json.dumps(list(row[i])) for row in rows])
        elif numeric_as_text and sql_type == "numeric":
            out.append([None if row[i] is None else str(row[i]) for row in rows])
        else:
            out.append([row[i] for row in rows])
    return out


# From this many rows an append goes by COPY. COPY costs a round trip more than one INSERT (asyncpg waits for the
# server's CopyInResponse before it sends the rows), which the ~4 us a row it saves wins back only in bulk: a
# rebuild's batches of thousands, not a live projection's batches of a few events.
COPY_FROM_ROWS = 100


async def insert_rows(
    conn: asyncpg.Connection, table: str, columns: Mapping[str, str], rows: Sequence[Row], *, on_conflict: str = ""
) -> None:
    """INSERT every row in one statement. `table` is schema-qualified; `columns` maps name -> SQL type.

    Many rows only appended (no `on_conflict`: every ledger, the rows appended per event; `COPY_FROM_ROWS` or more)
    go by COPY: the same rows, constraints and errors (a duplicate key) as the INSERT, at a fraction of
    PostgreSQL's cost (no arrays built and taken apart, no executor per row; docs/adr/0042)."""
    if not rows:
        return
    if not on_conflict and len(rows) >= COPY_FROM_ROWS:
        schema, _, name = table.rpartition(".")
        await conn.copy_records_to_table(name, schema_name=schema or None, columns=list(columns), records=rows)
        return
    names = ", ".join(columns)
    selected = ", ".join(_selected(name, sql_type) for name, sql_type in columns.items())
    await conn.execute(
        f"INSERT INTO {table} ({names}) SELECT {selected} FROM {unnest(columns, numeric_as_text=True)} {on_conflict}",
        *as_columns(rows, columns, numeric_as_text=True),
    )


class Events(list[StoredEvent]):
    """A batch of events that groups itself by aggregate type once, for all the tables that fold a batch (a service
    has several, each taking one type's events: a rebuild's batch of thousands was scanned once per table)."""

    _by_type: dict[str, list[StoredEvent]] | None = None

    def of_aggregate(self, aggregate_type: str) -> list[StoredEvent]:
        if self._by_type is None:
            self._by_type = {}
            for event in self:
                self._by_type.setdefault(event.envelope.aggregate_type, []).append(event)
        return self._by_type.get(aggregate_type, [])


def of_aggregate(events: Sequence[StoredEvent], aggregate_type: str) -> list[StoredEvent]:
    """The events of one aggregate type, in order."""
    if isinstance(events, Events):
        return events.of_aggregate(aggregate_type)
    return [e for e in events if e.envelope.aggregate_type == aggregate_type]


def envelope_fold(
    evolve: Callable[[S | None, Envelope, BaseModel | None], S],
) -> Callable[[S | None, StoredEvent], S]:
    """A pure domain `evolve(state, envelope, payload)` as a table's fold (domain modules know no event store); the
    payload is the one checked when the event was read, so it is not validated again."""

    def fold(state: S | None, event: StoredEvent) -> S:
        return evolve(state, event.envelope, CATALOGUE.payload_of(event))

    return fold


@dataclass
class AggregateTable(Generic[S]):
    table: str
    aggregate_type: str
    model: type[S]
    fold: Callable[[S | None, StoredEvent], S]
    # Extra columns for filtering, derived from the state: name -> (SQL type, getter)
    columns: dict[str, tuple[str, Callable[[S], Any]]] = field(default_factory=dict)
    # Keep the state every this many versions in `<table>_snapshots` (0: never), for time travel; only for a state
    # that stays small as its versions grow (see SNAPSHOT_MAX_BYTES).
    snapshot_every: int = 0

    def __post_init__(self) -> None:
        ident(self.table)
        for name in self.columns:
            ident(name)

    @property
    def snapshot_table(self) -> str | None:
        return f"{self.table}_snapshots" if self.snapshot_every else None

    @property
    def tables(self) -> tuple[str, ...]:
        """The tables this aggregate table writes (a read model's `tables` lists them for rebuild diffs)."""
        return (self.table, self.snapshot_table) if self.snapshot_table else (self.table,)

    def ddl(self, schema: str) -> str:
        extra = "".join(f", {name} {sql_type}" for name, (sql_type, _) in self.columns.items())
        return (
            f"CREATE TABLE IF NOT EXISTS {schema}.{self.table} (id text PRIMARY KEY{extra}, version int NOT NULL,"
            f" last_seq bigint NOT NULL, last_hash text NOT NULL, state jsonb NOT NULL);"
        ) + self._snapshot_ddl(schema)

    def _snapshot_ddl(self, schema: str) -> str:
        if self.snapshot_table is None:
            return ""
        columns = ", ".join(f"{name} {sql_type} NOT NULL" for name, sql_type in SNAPSHOT_COLUMNS.items())
        return f"CREATE TABLE IF NOT EXISTS {schema}.{self.snapshot_table} ({columns}, PRIMARY KEY (id, version));"

    def evolve(self, state: S | None, event: StoredEvent) -> S:
        return self.fold(state, event)

    async def load_row(self, conn: asyncpg.Connection, schema: str, aggregate_id: str) -> tuple[S | None, Position]:
        row = await conn.fetchrow(
            f"SELECT state, version, last_seq, last_hash FROM {schema}.{self.table} WHERE id = $1", aggregate_id
        )
        if row is None:
            return None, Position()
        return self.model.model_validate_json(row["state"]), Position(row["version"], row["last_seq"], row["last_hash"])

    async def snapshot_until(
        self, conn: asyncpg.Connection, schema: str, aggregate_id: str, moment: datetime
    ) -> Snapshot[S] | None:
        """The latest snapshot of the aggregate recorded by `moment`, if the table keeps them and has one."""
        if self.snapshot_table is None:
            return None
        # The primary key's index read backwards from the aggregate's last version: record time grows with the
        # version on one aggregate (ADR 0017), so the first row recorded by the moment is the latest one.
        row = await conn.fetchrow(
            f"SELECT version, seq, hash, subject, recorded_at, state FROM {schema}.{self.snapshot_table}"
            " WHERE id = $1 AND recorded_at <= $2 ORDER BY version DESC LIMIT 1",
            aggregate_id,
            moment,
        )
        if row is None:
            return None
        position = Position(row["version"], row["seq"], row["hash"])
        return Snapshot(self.model.model_validate_json(row["state"]), position, row["subject"], row["recorded_at"])

    async def load_states(self, conn: asyncpg.Connection, schema: str, ids: Sequence[str]) -> dict[str, S]:
        rows = await conn.fetch(f"SELECT id, state FROM {schema}.{self.table} WHERE id = ANY($1)", list(ids))
        return {r["id"]: self.model.model_validate_json(r["state"]) for r in rows}

    async def apply(self, conn: asyncpg.Connection, schema: str, events: Sequence[StoredEvent]) -> dict[str, S]:
        """Fold this aggregate type's events of a batch into the table; returns the new states by id."""
        mine = of_aggregate(events, self.aggregate_type)
        if not mine:
            return {}
        states: dict[str, S | None] = dict(
            await self.load_states(conn, schema, list({e.envelope.aggregate_id for e in mine}))
        )
        last: dict[str, StoredEvent] = {}
        snapshots: list[Row] = []
        for event in mine:
            key = event.envelope.aggregate_id
            state = states[key] = self.fold(states.get(key), event)
            last[key] = event
            if self.snapshot_every and event.envelope.version % self.snapshot_every == 0:
                kept = state.model_dump_json()
                if len(kept.encode()) <= SNAPSHOT_MAX_BYTES:  # bytes, as stored: a Chinese character is three
                    env = event.envelope
                    snapshots.append((key, env.version, event.seq, env.hash, event.subject, env.recorded_at, kept))
        folded = {k: v for k, v in states.items() if v is not None and k in last}
        columns = {
            "id": "text",
            **{name: sql_type for name, (sql_type, _) in self.columns.items()},
            **POSITION_COLUMNS,
            "state": "jsonb",
        }
        rows = [
            (
                key,
                *(getter(state) for _, getter in self.columns.values()),
                last[key].envelope.version,
                last[key].seq,
                last[key].envelope.hash,
                state.model_dump_json(),
            )
            for key, state in folded.items()
        ]
        updates = ", ".join(f"{n} = EXCLUDED.{n}" for n in columns if n != "id")
        await insert_rows(
            conn, f"{schema}.{self.table}", columns, rows, on_conflict=f"ON CONFLICT (id) DO UPDATE SET {updates}"
        )
        if snapshots:
            await insert_rows(conn, f"{schema}.{self.snapshot_table}", SNAPSHOT_COLUMNS, snapshots)
        return folded


@dataclass(frozen=True)
class RowTable:
    """A ledger: one row per event of the types in `rows` (event type -> the row's values, in `columns` order)."""

    table: str
    columns: dict[str, str]  # name -> SQL type; every column NOT NULL, the first one the primary key
    rows: Mapping[str, Callable[[StoredEvent], Row]]

    def __post_init__(self) -> None:
        ident(self.table)
        for name in self.columns:
            ident(name)

    def ddl(self, schema: str) -> str:
        columns = ", ".join(f"{name} {sql_type} NOT NULL" for name, sql_type in self.columns.items())
        return (
            f"CREATE TABLE IF NOT EXISTS {schema}.{self.table} ({columns}, PRIMARY KEY ({next(iter(self.columns))}));"
        )

    async def apply(self, conn: asyncpg.Connection, schema: str, events: Sequence[StoredEvent]) -> None:
        rows = [row(event) for event in events if (row := self.rows.get(event.envelope.type)) is not None]
        await insert_rows(conn, f"{schema}.{self.table}", self.columns, rows)
