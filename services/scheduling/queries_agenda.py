"""The meeting agenda generated from the state: red then yellow projects with their reasons, overdue milestones,
open escalated issues and open 督办 orders (of one unit's or one leader's projects when given)."""

from __future__ import annotations

from datetime import date
from typing import Any

import asyncpg

from services.scheduling.agenda_issues import escalated_issue_items, supervision_order_items
from services.scheduling.queries_lights import COLOUR_NAMES, programme_lights
from services.scheduling.read_model import PLANS
from shared.catalogue.scheduling import AgendaItem


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
