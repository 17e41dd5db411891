"""Every SQL read of scheduling: plans, lights, agendas, monitoring days and the data of reports.

Project facts come from two tables: the shared project directory (`project_directory`: name, programme, unit,
sponsor, phase, category) and scheduling's own figures of intake's projects (`project_figures`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import asyncpg

from services.scheduling.agenda_issues import escalated_issue_items, supervision_order_items
from services.scheduling.domain import PlanState
from services.scheduling.domain_monitoring import LightState, ProjectRow
from services.scheduling.read_model import LIGHTS, PLANS
from shared.catalogue.scheduling import AgendaItem, StatusLightChanged

COLOUR_NAMES = {"red": "红灯", "yellow": "黄灯", "green": "绿灯"}
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


async def monitoring_items(
    conn: asyncpg.Connection, schema: str, day: date, unit_id: str | None, sponsor_id: str | None = None
) -> list[dict[str, Any]]:
    """The day's items in the order they were emitted; a unit sees those of its own projects, a leader those of
    the projects it sponsors."""
    rows = await conn.fetch(
        f"SELECT i.kind, i.payload FROM {schema}.monitoring_items i"
        f" LEFT JOIN {schema}.project_directory d ON d.id = i.project_id"
        " WHERE i.day = $1 AND ($2::text IS NULL OR d.unit_id = $2) AND ($3::text IS NULL OR d.sponsor_leader_id = $3)"
        " ORDER BY i.seq",
        day, unit_id, sponsor_id,
    )  # fmt: skip
    return [{"kind": r["kind"], **json.loads(r["payload"])} for r in rows]


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


def light_public(light: StatusLightChanged | None) -> dict[str, Any] | None:
    if light is None:
        return None
    body = light.model_dump(mode="json")
    body["colour_name"] = COLOUR_NAMES[light.colour.value]
    body["reasons"] = [
        reason
        for dim in (light.milestones, light.investment, light.reporting, light.issues)
        if dim is not None and dim.colour.value != "green"
        for reason in dim.reasons
    ]
    return body


async def current_light(conn: asyncpg.Connection, schema: str, project_id: str) -> StatusLightChanged | None:
    state, _ = await LIGHTS.load_row(conn, schema, project_id)
    return state.current if isinstance(state, LightState) else None


async def light_history(
    conn: asyncpg.Connection, schema: str, project_id: str, *, limit: int, offset: int
) -> tuple[list[dict[str, Any]], int]:
    rows = await conn.fetch(
        f"SELECT seq, payload, recorded_at FROM {schema}.light_history WHERE project_id = $1 ORDER BY seq"
        " LIMIT $2 OFFSET $3",
        project_id, limit, offset,
    )  # fmt: skip
    total = await conn.fetchval(f"SELECT count(*) FROM {schema}.light_history WHERE project_id = $1", project_id)
    items = [
        {**(light_public(StatusLightChanged.model_validate_json(r["payload"])) or {}), "seq": r["seq"],
         "recorded_at": r["recorded_at"].isoformat()}
        for r in rows
    ]  # fmt: skip
    return items, int(total)


LIGHTS_WHERE = (
    "FROM {s}.project_directory j LEFT JOIN {s}.lights l ON l.id = j.id"
    " WHERE ($1::text IS NULL OR j.programme_id = $1) AND ($2::text IS NULL OR l.colour = $2)"
    " AND ($3::text IS NULL OR j.category = $3) AND ($4::text IS NULL OR j.unit_id = $4)"
    " AND ($5::text IS NULL OR j.sponsor_leader_id = $5)"
)


async def programme_lights(
    conn: asyncpg.Connection,
    schema: str,
    *,
    programme_id: str | None,
    colour: str | None,
    category: str | None,
    unit_id: str | None,
    sponsor_id: str | None,
    limit: int | None = None,
    offset: int = 0,
) -> list[dict[str, Any]]:
    """Projects with their current light, by project id (all of them unless `limit`)."""
    rows = await conn.fetch(
        f"SELECT j.id, j.name, j.category, j.unit_id, j.sponsor_leader_id, j.phase, l.state"
        f" {LIGHTS_WHERE.format(s=schema)} ORDER BY j.id LIMIT $6 OFFSET $7",
        programme_id, colour, category, unit_id, sponsor_id, limit, offset,
    )  # fmt: skip
    out = []
    for r in rows:
        light = LightState.model_validate_json(r["state"]).current if r["state"] else None
        out.append(
            {"project_id": r["id"], "name": r["name"], "category": r["category"], "unit_id": r["unit_id"],
             "sponsor_leader_id": r["sponsor_leader_id"], "phase": r["phase"], "light": light_public(light)}
        )  # fmt: skip
    return out


async def count_lights(
    conn: asyncpg.Connection,
    schema: str,
    *,
    programme_id: str | None,
    colour: str | None,
    category: str | None,
    unit_id: str | None,
    sponsor_id: str | None,
) -> int:
    """How many projects `programme_lights` lists with these filters."""
    total = await conn.fetchval(
        f"SELECT count(*) {LIGHTS_WHERE.format(s=schema)}", programme_id, colour, category, unit_id, sponsor_id
    )
    return int(total)


async def overdue_milestones(
    conn: asyncpg.Connection,
    schema: str,
    *,
    programme_id: str,
    unit_id: str | None,
    as_of: date,
    sponsor_id: str | None = None,
) -> list[dict[str, Any]]:
    rows = await conn.fetch(
        f"SELECT p.state, j.name AS project_name, j.unit_id FROM {schema}.plans p"
        f" JOIN {schema}.project_directory j ON j.id = p.project_id"
        " WHERE j.programme_id = $1 AND ($2::text IS NULL OR j.unit_id = $2) AND p.year = $3"
        " AND j.phase IN ('preliminary', 'under_construction', 'completed')"  # 竣工: watched until 投产
        " AND ($4::text IS NULL OR j.sponsor_leader_id = $4) ORDER BY j.id",
        programme_id, unit_id, as_of.year, sponsor_id,
    )  # fmt: skip
    out = []
    for r in rows:
        plan = PLANS.model.model_validate_json(r["state"])
        for m in plan.milestones:
            finished = m.done_on is not None and m.done_on <= as_of
            if not finished and m.planned_date < as_of:
                out.append(
                    {"project_id": plan.project_id, "project_name": r["project_name"], "milestone_id": m.milestone_id,
                     "milestone": m.name, "planned_date": m.planned_date, "days_overdue": (as_of - m.planned_date).days,
                     "unit_id": m.unit_id}
                )  # fmt: skip
    return out


async def build_agenda(
    conn: asyncpg.Connection,
    schema: str,
    *,
    programme_id: str,
    unit_id: str | None,
    as_of: date,
    sponsor_id: str | None = None,
) -> list[AgendaItem]:
    """The agenda from the state: red, then yellow projects with reasons, then overdue milestones, then open issues
    escalated beyond their lead unit, then open 督办 orders (of one unit's or one leader's projects when given)."""
    lights = await programme_lights(
        conn, schema, programme_id=programme_id, colour=None, category=None, unit_id=unit_id, sponsor_id=sponsor_id
    )
    items: list[AgendaItem] = []
    for colour in ("red", "yellow"):
        for p in lights:
            if p["light"] is not None and p["light"]["colour"] == colour:
                items.append(
                    AgendaItem(kind=f"{colour}_project", project_id=p["project_id"],
                               title=f"{COLOUR_NAMES[colour]}项目:{p['name']}", reasons=p["light"]["reasons"],
                               unit_id=p["unit_id"])
                )  # fmt: skip
    overdue = await overdue_milestones(
        conn, schema, programme_id=programme_id, unit_id=unit_id, as_of=as_of, sponsor_id=sponsor_id
    )
    for m in overdue:
        items.append(
            AgendaItem(kind="overdue_milestone", project_id=m["project_id"],
                       title=f"逾期节点:{m['project_name']}「{m['milestone']}」",
                       reasons=[f"计划 {m['planned_date'].isoformat()} 完成,已逾期 {m['days_overdue']} 天"],
                       unit_id=m["unit_id"])
        )  # fmt: skip
    items += await escalated_issue_items(
        conn, schema, programme_id=programme_id, unit_id=unit_id, sponsor_id=sponsor_id
    )
    items += await supervision_order_items(
        conn, schema, programme_id=programme_id, unit_id=unit_id, sponsor_id=sponsor_id
    )
    return items


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
