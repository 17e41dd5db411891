"""`insert_rows` sends numeric columns as text (docs/adr/0040), and many rows only appended go by COPY (docs/adr/0042;
`COPY_FROM_ROWS` is set to 1 here to take that path with a few rows): either way what PostgreSQL stores must be
exactly the Decimal the row held, its scale included, and NULL stays NULL; other columns beside them are unchanged,
and a duplicate key fails as an INSERT's does."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import asyncpg
import pytest

from shared import aggregate_table
from shared.aggregate_table import insert_rows
from shared.settings import Settings

COLUMNS = {"id": "text", "amount": "numeric", "tags": "text[]", "at": "timestamptz"}
VALUES = [Decimal("10.56"), Decimal("0.10"), Decimal("1E+2"), Decimal("-0.000001"), Decimal("12345678901234567890.5"),
          Decimal("NaN"), None, Decimal(7)]  # fmt: skip


@pytest.fixture(params=["copy", "insert"])
def append_by(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Appends by COPY (from one row on) or by one INSERT (the default threshold, more rows than any case here)."""
    if request.param == "copy":
        monkeypatch.setattr(aggregate_table, "COPY_FROM_ROWS", 1)
    return str(request.param)


@pytest.mark.parametrize("on_conflict", ["", "ON CONFLICT (id) DO NOTHING"], ids=["append", "upsert"])
async def test_numerics_are_stored_exactly_as_the_decimals_the_rows_held(
    settings: Settings, on_conflict: str, append_by: str
) -> None:
    conn = await asyncpg.connect(settings.database_url)
    try:
        await conn.execute("DROP TABLE IF EXISTS amounts")
        await conn.execute("CREATE TABLE amounts (id text PRIMARY KEY, amount numeric, tags text[], at timestamptz)")
        at = datetime(2024, 3, 8, 2, 0, tzinfo=UTC)
        rows = [(f"r{i}", value, ["甲", "b"], at) for i, value in enumerate(VALUES)]
        await insert_rows(conn, "public.amounts", COLUMNS, rows, on_conflict=on_conflict)
        stored = {
            r["id"]: r for r in await conn.fetch("SELECT id, amount, amount::text AS text, tags, at FROM amounts")
        }
        for i, value in enumerate(VALUES):
            row = stored[f"r{i}"]
            if value is None:
                assert row["amount"] is None
            elif value.is_nan():
                assert row["amount"].is_nan()
            else:
                assert row["amount"] == value and row["amount"].as_tuple().exponent == min(0, value.as_tuple().exponent)
            assert (row["tags"], row["at"]) == (["甲", "b"], at)
        assert stored["r1"]["text"] == "0.10" and stored["r2"]["text"] == "100"
    finally:
        await conn.close()


async def test_appending_a_row_whose_key_is_taken_fails_as_an_insert_does(settings: Settings, append_by: str) -> None:
    conn = await asyncpg.connect(settings.database_url)
    try:
        await conn.execute("DROP TABLE IF EXISTS appended")
        await conn.execute("CREATE TABLE appended (id text PRIMARY KEY, payload jsonb NOT NULL)")
        columns = {"id": "text", "payload": "jsonb"}
        await insert_rows(conn, "public.appended", columns, [("a", '{"n": 1}')])
        with pytest.raises(asyncpg.UniqueViolationError):
            await insert_rows(conn, "public.appended", columns, [("b", '{"n": 2}'), ("a", '{"n": 3}')])
        assert [tuple(r) for r in await conn.fetch("SELECT id, payload FROM appended")] == [("a", '{"n": 1}')]
    finally:
        await conn.close()
