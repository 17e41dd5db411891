"""SQL reads of what lights and reports are computed from: projects, their plans of a year and their progress
reports, programmes and organisations. By subject beside it: queries_lights.py (lights, monitoring days),
queries_plans.py (plans, hq's exemption queue), queries_agenda.py (the agenda), queries_meetings.py (meetings).

Project facts come from two tables: the shared project directory (`project_directory`: name, programme, unit,
sponsor, phase, category) and scheduling's own figures of intake's projects (`project_figures`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

import asyncpg

from services.scheduling.domain import PlanState
from services.scheduling.domain_monitoring import ProjectRow
from services.scheduling.read_model import PLANS

PROJECTS = "{s}.project_directory d JOIN {s}.project_figures f ON f.id = d.id"


async def project_rows(conn: asyncpg.Connection, schema: str, ids: list[str] | None = None) -> list[ProjectRow]:
    rows = await conn.fetch(
        f"SELECT d.id, d.programme_id, d.name, d.category, d.unit_id, d.sponsor_leader_id, d.phase, f.planned_start,"
        f" f.annual_planned_investment, f.registered_on FROM {PROJECTS.format(s=schema)}"
        " WHERE ($1::text[] IS NULL OR d.id = ANY($1)) ORDER BY d.id",
        ids,
    )
    return [ProjectRow(**dict(r)) for r in rows]


async def plans_of_year(
    conn: asyncpg.Connection, schema: str, year: int, project_ids: list[str]
) -> dict[str, PlanState]:
    """The plan of each project for `year`, by project id."""
    rows = await conn.fetch(
        f"SELECT id FROM {schema}.plans WHERE year = $1 AND project_id = ANY($2)", year, project_ids
    )
    plans = await PLANS.load_states(conn, schema, [r["id"] for r in rows])
    return {plan.project_id: plan for plan in plans.values()}


@dataclass(frozen=True)
class ProgressRow:
    project_id: str
    period_start: date
    period_end: date
    investment: Decimal
    recorded_at: datetime


# The investment a report counts with in lights and figures: its latest (corrected) figure while it is accepted
# or awaiting review; a returned (退回) report is known to be wrong, so it counts as reported (the cadence) with
# nothing invested until it is corrected (docs/adr/0015).
COUNTED_INVESTMENT = "CASE WHEN status = 'returned' THEN 0 ELSE investment END"


async def progress_until(
    conn: asyncpg.Connection, schema: str, project_ids: list[str], as_of: date
) -> list[ProgressRow]:
    rows = await conn.fetch(
        f"SELECT project_id, period_start, period_end, {COUNTED_INVESTMENT} AS investment, recorded_at"
        f" FROM {schema}.progress WHERE project_id = ANY($1) AND period_end <= $2 ORDER BY period_end",
        project_ids, as_of,
    )  # fmt: skip
    return [
        ProgressRow(r["project_id"], r["period_start"], r["period_end"], r["investment"], r["recorded_at"])
        for r in rows
    ]


async def programme_exists(conn: asyncpg.Connection, schema: str, programme_id: str) -> bool:
    return bool(await conn.fetchval(f"SELECT 1 FROM {schema}.programmes WHERE id = $1", programme_id))


async def organisation_role(conn: asyncpg.Connection, schema: str, org_id: str) -> str | None:
    role = await conn.fetchval(f"SELECT role FROM {schema}.organisations WHERE id = $1", org_id)
    return None if role is None else str(role)


async def completed_this_year(conn: asyncpg.Connection, schema: str, as_of: date) -> dict[str, Decimal]:
    rows = await conn.fetch(
        f"SELECT project_id, sum({COUNTED_INVESTMENT}) AS total FROM {schema}.progress"
        " WHERE period_end <= $1 AND extract(year FROM period_end) = $2 GROUP BY project_id",
        as_of, as_of.year,
    )  # fmt: skip
    return {r["project_id"]: r["total"] for r in rows}


# -- the data of reports -----------------------------------------------------------------------------------------


async def programme_name(conn: asyncpg.Connection, schema: str, programme_id: str) -> str | None:
    name = await conn.fetchval(f"SELECT name FROM {schema}.programmes WHERE id = $1", programme_id)
    return None if name is None else str(name)


async def organisation_names(conn: asyncpg.Connection, schema: str) -> dict[str, str]:
    return {r["id"]: r["name"] for r in await conn.fetch(f"SELECT id, name FROM {schema}.organisations")}


async def last_reports(conn: asyncpg.Connection, schema: str, as_of: date) -> dict[str, date]:
    """The end of the last reported period of each project, up to `as_of`."""
    rows = await conn.fetch(
        f"SELECT project_id, max(period_end) AS last FROM {schema}.progress WHERE period_end <= $1 GROUP BY 1", as_of
    )
    return {r["project_id"]: r["last"] for r in rows}
