"""Gathers the supervision bulletin (bulletin.py) of a period from scheduling's read model.

`period` is a month, `YYYY-MM` (2024-06), or an ISO week, `YYYY-Www` (2024-W23). The bulletin covers the projects
of one programme (`programme_id`) or, without one, of every programme of the period's year; lights are those shown
at the period's end (the platform's today while the period runs), and reports, phases and locations as known at
the end of that day; a period that has not begun is refused.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

import asyncpg

from services.scheduling import queries
from services.scheduling.as_shown import lights_as_shown
from services.scheduling.bulletin import BulletinFacts, BulletinProject, district_of
from services.scheduling.phases_as_known import phases_as_known
from services.scheduling.progress_as_known import progress_as_known
from services.scheduling.project_figures_as_known import projects_as_known
from services.scheduling.reporting_cadence import end_of_day
from services.scheduling.reports import money
from services.scheduling.weekly_data import ReportWeek
from shared.domain_errors import NotFound, invalid

PERIOD_PATTERN = r"^\d{4}-(\d{2}|W\d{2})$"


@dataclass(frozen=True)
class BulletinPeriod:
    name: str
    label: str
    start: date
    end: date

    @classmethod
    def parse(cls, text: str) -> BulletinPeriod:
        if re.fullmatch(r"\d{4}-W\d{2}", text):
            week = ReportWeek.parse(text, "period")
            iso = week.start.isocalendar()
            return cls(text, f"{iso.year}年第{iso.week}周", week.start, week.end)
        match = re.fullmatch(r"(\d{4})-(\d{2})", text)
        if match is None or not 1 <= int(match[2]) <= 12 or int(match[1]) < 2000:
            raise invalid("period", "应为月份 YYYY-MM(如 2024-06)或 ISO 周 YYYY-Www(如 2024-W23)")
        year, month = int(match[1]), int(match[2])
        last = calendar.monthrange(year, month)[1]
        return cls(text, f"{year}年{month}月", date(year, month, 1), date(year, month, last))

    def bulletin_date(self, today: date) -> date:
        if self.start > today:
            raise invalid("period", f"统计期 {self.name} 尚未开始(平台当日 {today})")
        return min(self.end, today)


async def bulletin_facts(
    conn: asyncpg.Connection, schema: str, period: BulletinPeriod, as_of: date, programme_id: str | None
) -> BulletinFacts:
    if programme_id is not None:
        title = await queries.programme_name(conn, schema, programme_id)
        if title is None:
            raise NotFound("年度重点项目批次不存在", field="programme_id", reason="不存在")
    else:
        title = f"{period.start.year}年度重点项目"
    names = await queries.organisation_names(conn, schema)
    rows = await conn.fetch(
        "SELECT d.id, d.name, d.category, d.unit_id, d.phase, f.location, f.state->>'district' AS district,"
        " f.planned_start, f.planned_completion, f.total_investment, f.annual_planned_investment,"
        " f.state->'planned_before' AS planned_before"
        f" FROM {queries.PROJECTS.format(s=schema)} JOIN {schema}.programmes g ON g.id = d.programme_id"
        " WHERE ($1::text IS NULL OR d.programme_id = $1) AND ($1::text IS NOT NULL OR g.year = $2)"
        " AND f.registered_on <= $3"  # registered by the bulletin's date (UTC date of the record time)
        " ORDER BY d.category, d.id",
        programme_id, period.start.year, as_of,
    )  # fmt: skip
    # As known at the end of the bulletin's date (platform clock, docs/adr/0017): what was recorded later is left out
    # (a location amended later counts in its 区县 of then).
    known_at = end_of_day(as_of)
    projects = projects_as_known([dict(r) for r in rows], known_at)
    ids = [p["id"] for p in projects]
    shown = await lights_as_shown(conn, schema, as_of, ids)
    phases = await phases_as_known(conn, schema, {p["id"]: p["phase"] for p in projects}, known_at)
    progress: dict[str, tuple[Decimal, int]] = {}
    for r in await progress_as_known(conn, schema, ids, known_at, as_of):
        if r.period_end >= period.start:
            investment, milestones = progress.get(r.project_id, (Decimal(0), 0))
            progress[r.project_id] = (investment + r.investment, milestones + r.milestones_done)
    rows = []
    for p in projects:
        investment, milestones = progress.get(p["id"], (Decimal(0), 0))
        light = shown.get(p["id"])
        rows.append(
            BulletinProject(
                name=p["name"], category=p["category"], district=district_of(p["district"], p["location"]),
                unit_name=names.get(p["unit_id"], p["unit_id"]), phase=phases[p["id"]],
                progressed=investment > 0 or milestones > 0, investment_in_period=money(investment),
                light=light.colour if light else None, reasons=light.reasons if light else [],
            )
        )  # fmt: skip
    return BulletinFacts(title, period.name, period.label, period.start, period.end, as_of, rows)
