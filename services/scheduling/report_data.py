"""Gathers the weekly dispatch report and the ledger from the read model (rendering is in reports.py)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import asyncpg

from services.scheduling.evaluation import rule_set, rules_for
from services.scheduling.queries import completed_this_year, overdue_milestones, programme_lights
from services.scheduling.read_model import PLANS
from services.scheduling.reports import DecisionItem, LedgerRow, OverdueItem, WeeklyReport
from shared.problems import Problem


async def _names(conn: asyncpg.Connection, schema: str) -> dict[str, str]:
    return {r["id"]: r["name"] for r in await conn.fetch(f"SELECT id, name FROM {schema}.organisations")}


async def ledger_rows(
    conn: asyncpg.Connection, schema: str, programme_id: str, as_of: date
) -> tuple[str, list[LedgerRow]]:
    programme = await conn.fetchval(f"SELECT name FROM {schema}.programmes WHERE id = $1", programme_id)
    if programme is None:
        raise Problem(404, "计划不存在")
    names = await _names(conn, schema)
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
    plan_rows = await conn.fetch(f"SELECT id, project_id FROM {schema}.plans WHERE year = $1", as_of.year)
    plans = await PLANS.load_states(conn, schema, [r["id"] for r in plan_rows])
    plan_of = {p.project_id: p for p in plans.values()}
    last_reports = {
        r["project_id"]: r["last"]
        for r in await conn.fetch(
            f"SELECT project_id, max(period_end) AS last FROM {schema}.progress WHERE period_end <= $1 GROUP BY 1",
            as_of,
        )
    }
    rows = []
    for p in await conn.fetch(
        f"SELECT * FROM {schema}.projects WHERE programme_id = $1 ORDER BY category, id", programme_id
    ):
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


async def weekly_report(conn: asyncpg.Connection, schema: str, programme_id: str, as_of: date) -> WeeklyReport:
    programme, rows = await ledger_rows(conn, schema, programme_id, as_of)
    names = await _names(conn, schema)
    overdue = [
        OverdueItem(
            m["project_name"],
            m["milestone"],
            m["planned_date"],
            m["days_overdue"],
            names.get(m["unit_id"], m["unit_id"]),
        )
        for m in await overdue_milestones(conn, schema, programme_id=programme_id, unit_id=None, as_of=as_of)
    ]
    decisions = [
        DecisionItem(r["text"], names.get(r["owner_unit_id"], r["owner_unit_id"]), r["deadline"], r["title"])
        for r in await conn.fetch(
            f"SELECT d.text, d.owner_unit_id, d.deadline, m.state->>'title' AS title FROM {schema}.decisions d"
            f" JOIN {schema}.meetings m ON m.id = d.meeting_id WHERE m.programme_id = $1 ORDER BY d.deadline",
            programme_id,
        )
    ]
    version = rules_for(await rule_set(conn, schema), as_of).version
    return WeeklyReport(programme, as_of, rows, overdue, decisions, version)
