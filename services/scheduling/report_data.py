"""Gathers the ledger from the read model (rendering is in reports.py; the weekly report is weekly_data.py)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import asyncpg

from services.scheduling import queries
from services.scheduling.queries import completed_this_year, overdue_milestones, programme_lights
from services.scheduling.reports import LedgerRow
from shared.domain_errors import NotFound


async def ledger_rows(
    conn: asyncpg.Connection, schema: str, programme_id: str, as_of: date
) -> tuple[str, list[LedgerRow]]:
    programme = await queries.programme_name(conn, schema, programme_id)
    if programme is None:
        raise NotFound("计划不存在", field="programme_id", reason="计划不存在")
    names = await queries.organisation_names(conn, schema)
    lights = {
        p["project_id"]: p["light"]
        for p in await programme_lights(
            conn, schema, programme_id=programme_id, colour=None, category=None, unit_id=None, sponsor_id=None
        )
    }
    done = await completed_this_year(conn, schema, as_of)
    overdue: dict[str, int] = {}
    for m in await overdue_milestones(conn, schema, programme_id=programme_id, unit_id=None, as_of=as_of):
        overdue[m["project_id"]] = overdue.get(m["project_id"], 0) + 1
    projects = await queries.ledger_projects(conn, schema, programme_id)
    plan_of = await queries.plans_of_year(conn, schema, as_of.year, [p["id"] for p in projects])
    last_reports = await queries.last_reports(conn, schema, as_of)
    rows = []
    for p in projects:
        plan = plan_of.get(p["id"])
        upcoming = sorted(
            (m for m in (plan.milestones if plan else []) if m.done_on is None and m.planned_date >= as_of),
            key=lambda m: m.planned_date,
        )
        light = lights.get(p["id"])
        rows.append(
            LedgerRow(
                project_id=p["id"], name=p["name"], category=p["category"],
                unit_name=names.get(p["unit_id"], p["unit_id"]),
                sponsor_name=names.get(p["sponsor_leader_id"]) if p["sponsor_leader_id"] else None,
                location=p["location"], phase=p["phase"], total_investment=p["total_investment"],
                annual_target=plan.annual_target_investment if plan else p["annual_planned_investment"],
                completed_this_year=done.get(p["id"], Decimal(0)), cumulative_investment=p["cumulative_investment"],
                image_progress_pct=p["image_progress_pct"], image_progress_text=p["image_progress_text"],
                light=light["colour"] if light else None, light_reasons=light["reasons"] if light else [],
                next_milestone=upcoming[0].name if upcoming else None,
                next_milestone_date=upcoming[0].planned_date if upcoming else None,
                overdue_milestones=overdue.get(p["id"], 0), last_report=last_reports.get(p["id"]),
            )
        )  # fmt: skip
    return programme, rows
