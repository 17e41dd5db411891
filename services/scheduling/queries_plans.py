"""SQL reads of annual plans: one plan with its version, the plans a caller may see, and hq's queue of exemptions
(正当理由) in a status."""

from __future__ import annotations

import json
from typing import Any

import asyncpg

from services.scheduling.read_model import PLANS


async def get_plan(conn: asyncpg.Connection, schema: str, plan_id: str) -> dict[str, Any] | None:
    state, position = await PLANS.load_row(conn, schema, plan_id)
    if state is None:
        return None
    return {**state.model_dump(mode="json"), "version": position.version}


async def list_plans(
    conn: asyncpg.Connection,
    schema: str,
    *,
    project_id: str | None,
    year: int | None,
    unit_id: str | None,
    sponsor_id: str | None = None,
    limit: int,
    offset: int,
) -> tuple[list[dict[str, Any]], int]:
    source = (
        f"FROM {schema}.plans p JOIN {schema}.project_directory j ON j.id = p.project_id"
        " WHERE ($1::text IS NULL OR p.project_id = $1) AND ($2::int IS NULL OR p.year = $2)"
        " AND ($3::text IS NULL OR j.unit_id = $3) AND ($4::text IS NULL OR j.sponsor_leader_id = $4)"
    )
    args = (project_id, year, unit_id, sponsor_id)
    rows = await conn.fetch(
        f"SELECT p.state, p.version {source} ORDER BY p.project_id, p.year LIMIT $5 OFFSET $6", *args, limit, offset
    )
    total = await conn.fetchval(f"SELECT count(*) {source}", *args)
    return [{**json.loads(r["state"]), "version": r["version"]} for r in rows], int(total)


# Every exemption of every plan, with its project: hq's queue reads this filtered by status.
EXEMPTIONS_FROM = (
    "FROM {s}.plans p JOIN {s}.project_directory j ON j.id = p.project_id,"
    " jsonb_array_elements(p.state->'exemptions') AS e"
    " WHERE e.value->>'status' = $1 AND ($2::text IS NULL OR j.programme_id = $2)"
)


async def exemption_queue(
    conn: asyncpg.Connection, schema: str, *, status: str, programme_id: str | None, limit: int, offset: int
) -> tuple[list[dict[str, Any]], int]:
    """Exemptions of every plan in `status` (hq's queue: `requested`), by project; and how many in all."""
    source = EXEMPTIONS_FROM.format(s=schema)
    rows = await conn.fetch(
        "SELECT p.id AS plan_id, p.project_id, p.version, j.name AS project_name, j.unit_id, e.value AS exemption "
        f"{source} ORDER BY p.project_id, p.year, e.value->>'exemption_id' LIMIT $3 OFFSET $4",
        status, programme_id, limit, offset,
    )  # fmt: skip
    total = await conn.fetchval(f"SELECT count(*) {source}", status, programme_id)
    items = [
        {"plan_id": r["plan_id"], "plan_version": r["version"], "project_id": r["project_id"],
         "project_name": r["project_name"], "unit_id": r["unit_id"], **json.loads(r["exemption"])}
        for r in rows
    ]  # fmt: skip
    return items, int(total)
