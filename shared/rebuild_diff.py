"""Which rows of a read model differ between two schemas (the live one and a rebuild), named by key and column.

"Do the read models follow from the log?" is answered by a rebuild into a scratch schema and this comparison: per
table, the rows joined on the primary key, each side as JSON; a row whose JSON differs is named with its key and,
when both sides have it, the columns that differ with both values. A table may have many: the first `limit` rows
(in key order) are named, the totals are all counted.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

import asyncpg

from shared.db import ident
from shared.projection import ReadModel

ROWS_NAMED = 100  # per table


@dataclass
class ColumnDifference:
    column: str
    live: Any
    rebuilt: Any


@dataclass
class RowDifference:
    key: dict[str, Any]
    # "changed": on both sides, `columns` name what differs; "live_only" / "rebuilt_only": `row` is the one side's
    kind: str
    columns: list[ColumnDifference] = field(default_factory=list)
    row: dict[str, Any] | None = None


@dataclass
class TableDifference:
    table: str
    key_columns: list[str]
    changed: int = 0
    live_only: int = 0
    rebuilt_only: int = 0
    rows: list[RowDifference] = field(default_factory=list)  # the first ROWS_NAMED, in key order

    @property
    def total(self) -> int:
        return self.changed + self.live_only + self.rebuilt_only

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "total": self.total, "rows_named": len(self.rows)}


async def primary_key(conn: asyncpg.Connection, schema: str, table: str) -> list[str]:
    rows = await conn.fetch(
        "SELECT a.attname FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey)"
        " WHERE i.indrelid = to_regclass($1) AND i.indisprimary ORDER BY array_position(i.indkey, a.attnum)",
        f"{schema}.{table}",
    )
    return [r["attname"] for r in rows]


def _quoted(column: str) -> str:
    return '"' + column.replace('"', '""') + '"'


async def diff_table(
    conn: asyncpg.Connection, live: str, rebuilt: str, table: str, *, limit: int = ROWS_NAMED
) -> TableDifference:
    a, b, t = ident(live), ident(rebuilt), ident(table)
    key = await primary_key(conn, a, t)
    if not key:
        raise ValueError(f"{a}.{t} has no primary key: its rows cannot be named (shared.projection.ReadModel)")
    join = " AND ".join(f"l.{_quoted(k)} = r.{_quoted(k)}" for k in key)
    order = ", ".join(f"coalesce(l.{_quoted(k)}, r.{_quoted(k)})" for k in key)
    rows = await conn.fetch(
        f"""
        WITH d AS (
            SELECT to_jsonb(l) AS live, to_jsonb(r) AS rebuilt, ROW({order}) AS k
            FROM {a}.{t} l FULL JOIN {b}.{t} r ON {join}
            WHERE to_jsonb(l) IS DISTINCT FROM to_jsonb(r))
        SELECT live, rebuilt, count(*) FILTER (WHERE rebuilt IS NULL) OVER () AS live_only,
               count(*) FILTER (WHERE live IS NULL) OVER () AS rebuilt_only, count(*) OVER () AS total
        FROM d ORDER BY k LIMIT $1
        """,
        limit,
    )
    result = TableDifference(t, key)
    if not rows:
        return result
    first = rows[0]
    result.live_only, result.rebuilt_only = int(first["live_only"]), int(first["rebuilt_only"])
    result.changed = int(first["total"]) - result.live_only - result.rebuilt_only
    result.rows = [_named(key, _json(r["live"]), _json(r["rebuilt"])) for r in rows]
    return result


def _json(value: Any) -> dict[str, Any] | None:
    if value is None:
        return None
    loaded: dict[str, Any] = json.loads(value) if isinstance(value, str) else value
    return loaded


def _named(key: list[str], live: dict[str, Any] | None, rebuilt: dict[str, Any] | None) -> RowDifference:
    either = live if live is not None else rebuilt
    assert either is not None
    row_key = {k: either[k] for k in key}
    if live is None:
        return RowDifference(row_key, "rebuilt_only", row=rebuilt)
    if rebuilt is None:
        return RowDifference(row_key, "live_only", row=live)
    names = list(live) + [c for c in rebuilt if c not in live]  # the table's column order
    columns = [ColumnDifference(c, live.get(c), rebuilt.get(c)) for c in names if live.get(c) != rebuilt.get(c)]
    return RowDifference(row_key, "changed", columns=columns)


async def diff_rows(
    pool: asyncpg.Pool, read_model: ReadModel, live: str, rebuilt: str, *, limit: int = ROWS_NAMED
) -> list[TableDifference]:
    """Every table of `read_model` that differs between `live` and `rebuilt` (empty list: identical)."""
    differences = []
    async with pool.acquire() as conn:
        for table in read_model.tables:
            difference = await diff_table(conn, live, rebuilt, table, limit=limit)
            if difference.total:
                differences.append(difference)
    return differences
