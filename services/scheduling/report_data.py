"""Gathers the ledger from the read model (rendering is in reports.py; the weekly report is weekly_data.py).

The ledger of a date shows the lights as shown on that date (as_shown.py), never recomputed.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import asyncpg

from services.scheduling import queries
from services.scheduling.as_shown import lights_as_shown
from services.scheduling.domain import MilestoneState, PlanState
from services.scheduling.queries import completed_this_year
from services.scheduling.queries_agenda import overdue_milestones
from services.scheduling.reports import LedgerRow
from shared.domain_errors import NotFound


async def ledger_projects(conn: asyncpg.Connection, schema: str, programme_id: str) -> list[asyncpg.Record]:
    """A programme's projects with their figures, by category then id."""
    rows: list[asyncpg.Record] = await conn.fetch(
        "SELECT d.id, d.name, d.category, d.unit_id, d.sponsor_leader_id, d.phase, f.location, f.total_investment,"
        " f.annual_planned_investment, f.cumulative_investment, f.image_progress_pct, f.state->>'code' AS code,"
        " coalesce(f.state->>'construction_content', '') AS construction_content,"
        " coalesce(f.state->>'construction_type', 'new') AS construction_type"
        f" FROM {queries.PROJECTS.format(s=schema)} WHERE d.programme_id = $1 ORDER BY d.category, d.id",
        programme_id,
    )
    return rows


def current_and_next(
    plan: PlanState | None, as_of: date
) -> tuple[MilestoneState | None, date | None, MilestoneState | None]:
    """当前节点 (the last milestone done by `as_of`, and when) and 下一节点 (the first one not done, overdue or not).
    A milestone reported done in a progress report is completed in the plan by a reaction (docs/adr/0015)."""
    milestones = sorted(plan.milestones if plan else [], key=lambda m: (m.planned_date, m.milestone_id))
    current: tuple[MilestoneState | None, date | None] = (None, None)
    upcoming = None
    for m in milestones:
        done_on = m.done_on if m.done_on is not None and m.done_on <= as_of else None
        if done_on is not None:
            if current[1] is None or done_on >= current[1]:
                current = (m, done_on)
        elif upcoming is None:
            upcoming = m
    return current[0], current[1], upcoming


async def ledger_rows(
    conn: asyncpg.Connection, schema: str, programme_id: str, as_of: date
) -> tuple[str, list[LedgerRow]]:
    programme = await queries.programme_name(conn, schema, programme_id)
    if programme is None:
        raise NotFound("年度重点项目批次不存在", field="programme_id", reason="年度重点项目批次不存在")
    names = await queries.organisation_names(conn, schema)
    projects = await ledger_projects(conn, schema, programme_id)
    ids = [p["id"] for p in projects]
    shown = await lights_as_shown(conn, schema, as_of, ids)
    done = await completed_this_year(conn, schema, as_of)
    overdue: dict[str, int] = {}
    for m in await overdue_milestones(conn, schema, programme_id=programme_id, unit_id=None, as_of=as_of):
        overdue[m["project_id"]] = overdue.get(m["project_id"], 0) + 1
    plan_of = await queries.plans_of_year(conn, schema, as_of.year, ids)
    last_reports = await queries.last_reports(conn, schema, as_of)
    rows = []
    for p in projects:
        plan, light = plan_of.get(p["id"]), shown.get(p["id"])
        current, current_on, upcoming = current_and_next(plan, as_of)
        rows.append(
            LedgerRow(
                project_id=p["id"], code=p["code"], name=p["name"], construction_content=p["construction_content"],
                construction_type=p["construction_type"], category=p["category"],
                unit_name=names.get(p["unit_id"], p["unit_id"]),
                sponsor_name=names.get(p["sponsor_leader_id"]) if p["sponsor_leader_id"] else None,
                location=p["location"], phase=p["phase"], total_investment=p["total_investment"],
                annual_target=plan.annual_target_investment if plan else p["annual_planned_investment"],
                completed_this_year=done.get(p["id"], Decimal(0)), cumulative_investment=p["cumulative_investment"],
                image_progress_pct=p["image_progress_pct"],
                current_milestone=current.name if current else None, current_milestone_date=current_on,
                next_milestone=upcoming.name if upcoming else None,
                next_milestone_date=upcoming.planned_date if upcoming else None,
                overdue_milestones=overdue.get(p["id"], 0), light=light.colour if light else None,
                light_reasons=light.reasons if light else [], rule_version=light.light.rule_version if light else None,
                last_report=last_reports.get(p["id"]),
            )
        )  # fmt: skip
    return programme, rows
