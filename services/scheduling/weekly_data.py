"""Gathers the weekly dispatch report of one ISO week from scheduling's read model (built in weekly_report.py).

`week` is an ISO week, `YYYY-Www` (2024-W23: Monday 2024-06-03 to Sunday 2024-06-09). The report is dated the
week's Sunday, or the platform's today while the week is running; a week that has not begun is refused.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

import asyncpg

from services.scheduling import queries
from services.scheduling.as_shown import lights_as_shown
from services.scheduling.domain import PlanState
from services.scheduling.evaluation import monthly_without_plan
from services.scheduling.lights import planned_to_date
from services.scheduling.missing_reports import missing_reports
from services.scheduling.phases_as_known import phases_as_known
from services.scheduling.plan_as_known import KnownMilestone, granted_by, milestones_as_known
from services.scheduling.plan_figures_as_known import plans_as_known
from services.scheduling.progress_as_known import progress_as_known
from services.scheduling.project_figures_as_known import projects_as_known
from services.scheduling.reporting_cadence import IsoWeek, end_of_day
from services.scheduling.weekly_issues import decision_statuses, open_issues_as_known
from services.scheduling.weekly_report import (
    DecisionLine,
    ExemptionLine,
    MilestoneLine,
    MissingReport,
    WeeklyFacts,
    WeekProject,
)
from shared.catalogue.scheduling import ReportWeekStatus
from shared.clock import CHINA
from shared.domain_errors import NotFound, invalid

WEEK_PATTERN = r"^\d{4}-W\d{2}$"
ACTIVE_PHASES = ("preliminary", "under_construction")  # phases that report weekly
OVERDUE_PHASES = (*ACTIVE_PHASES, "completed")  # 竣工: watched until 投产
DUE_WITHIN_DAYS = 7


@dataclass(frozen=True)
class ReportWeek:
    name: str  # 2024-W23
    start: date  # Monday
    end: date  # Sunday

    @classmethod
    def parse(cls, text: str, field: str = "week") -> ReportWeek:
        match = re.fullmatch(r"(\d{4})-W(\d{2})", text)
        if match is None:
            raise invalid(field, "应为 ISO 周,格式 YYYY-Www,如 2024-W23")
        if int(match[1]) < 2000:  # as programmes: nothing to report before
            raise invalid(field, "年份不能早于 2000")
        try:
            start = date.fromisocalendar(int(match[1]), int(match[2]), 1)
        except ValueError:
            raise invalid(field, f"{match[1]} 年没有第 {int(match[2])} 周") from None
        return cls(text, start, start + timedelta(days=6))

    @classmethod
    def of(cls, day: date, field: str = "as_of") -> ReportWeek:
        iso = day.isocalendar()
        return cls.parse(f"{iso.year:04d}-W{iso.week:02d}", field)

    def report_date(self, today: date, field: str = "week") -> date:
        if self.start > today:
            raise invalid(field, f"第 {self.name} 周尚未开始(平台当日 {today})")
        return min(self.end, today)


async def weekly_facts(
    conn: asyncpg.Connection, schema: str, programme_id: str, week: ReportWeek, as_of: date, unit_id: str | None
) -> WeeklyFacts:
    """The report of `week` on `as_of`; `unit_id` narrows it to that unit's projects (a unit's own report).

    Everything in it is as known at the end of `as_of` (China time, platform clock: the clock that stamps every
    event's recorded_at, docs/adr/0017): reports, corrections, reviews, phase changes, milestone completions and
    re-baselines, exemption decisions and meeting decisions recorded later are left out; the plan's figures and the
    project's planned figures and dates are those in force then (a plan drafted later is left out); lights are those
    shown."""
    programme = await queries.programme_name(conn, schema, programme_id)
    if programme is None:
        raise NotFound("年度重点项目批次不存在", field="programme_id", reason="不存在")
    known_at = end_of_day(as_of)
    names = await queries.organisation_names(conn, schema)
    projects = projects_as_known(await _projects(conn, schema, programme_id, unit_id, as_of), known_at)
    ids = [p["id"] for p in projects]
    phases = await phases_as_known(conn, schema, {p["id"]: p["phase"] for p in projects}, known_at)
    plans = await plans_as_known(conn, schema, await queries.plans_of_year(conn, schema, as_of.year, ids), known_at)
    shown = await lights_as_shown(conn, schema, as_of, ids)
    before = await lights_as_shown(conn, schema, week.start - timedelta(days=1), ids)
    done: dict[str, Decimal] = {}
    for r in await progress_as_known(conn, schema, ids, known_at, as_of):
        if r.period_end.year == as_of.year:
            done[r.project_id] = done.get(r.project_id, Decimal(0)) + r.investment
    rows = []
    for p in projects:
        plan, light, earlier = plans.get(p["id"]), shown.get(p["id"]), before.get(p["id"])
        rows.append(
            WeekProject(
                name=p["name"], category=p["category"], unit_name=names.get(p["unit_id"], p["unit_id"]),
                sponsor_name=names.get(p["sponsor_leader_id"]) if p["sponsor_leader_id"] else None,
                phase=phases[p["id"]], planned_start=p["planned_start"],
                annual_target=plan.annual_target_investment if plan else p["annual_planned_investment"],
                planned_to_date=planned_to_date(_monthly(p, plan, as_of.year), as_of.year, as_of, []),
                done_this_year=done.get(p["id"], Decimal(0)), light=light.colour if light else None,
                reasons=light.reasons if light else [], rule_version=light.light.rule_version if light else None,
                light_before=earlier.colour if earlier else None,
            )
        )  # fmt: skip
    by_id = {p["id"]: p for p in projects}
    milestones = {pid: milestones_as_known(plan, known_at) for pid, plan in plans.items()}
    overdue = _overdue(milestones, by_id, phases, names, as_of)
    due = _due_soon(milestones, by_id, phases, names, as_of)
    known_ids = {p["id"] for p in projects}
    missing = await units_not_reported_this_week(conn, schema, programme_id, unit_id, week, as_of, known_ids)
    meeting, decisions = await _last_meeting(conn, schema, programme_id, unit_id, as_of, names)
    issues = await open_issues_as_known(conn, schema, {p["id"]: p["name"] for p in projects}, names, known_at)
    return WeeklyFacts(
        programme_name=programme, week=week.name, week_start=week.start, week_end=week.end, as_of=as_of,
        scope=names.get(unit_id, unit_id) if unit_id else None, projects=rows, due=due, overdue=overdue,
        missing=missing, exemptions=_granted_exemptions(plans, by_id, week, known_at), meeting=meeting,
        decisions=decisions, issues=issues,
    )  # fmt: skip


def _monthly(project: Mapping[str, Any], plan: PlanState | None, year: int) -> list[Decimal]:
    """The monthly plan the light judges against (序时进度 of the report: no exemption is taken out)."""
    if plan is not None:
        return plan.monthly_investment
    return monthly_without_plan(project["planned_start"], project["annual_planned_investment"], year)


async def _projects(
    conn: asyncpg.Connection, schema: str, programme_id: str, unit_id: str | None, as_of: date
) -> list[dict[str, Any]]:
    """The programme's projects registered by the report's date (a project registered later is not in it);
    `registered_on` is the UTC date of the registration's record time."""
    rows = await conn.fetch(
        "SELECT d.id, d.name, d.category, d.unit_id, d.sponsor_leader_id, d.phase, f.planned_start,"
        " f.planned_completion, f.total_investment, f.annual_planned_investment, f.location,"
        f" f.state->'planned_before' AS planned_before FROM {queries.PROJECTS.format(s=schema)}"
        " WHERE d.programme_id = $1 AND ($2::text IS NULL OR d.unit_id = $2) AND f.registered_on <= $3"
        " ORDER BY d.category, d.id",
        programme_id, unit_id, as_of,
    )  # fmt: skip
    return [dict(r) for r in rows]


def _due_soon(
    milestones: dict[str, list[KnownMilestone]],
    projects: Mapping[str, Mapping[str, Any]],
    phases: dict[str, str],
    names: dict[str, str],
    as_of: date,
) -> list[MilestoneLine]:
    """Milestones of active projects not known done by `as_of` and due within the next 7 days."""
    out = []
    for project_id, known in milestones.items():
        if phases[project_id] not in ACTIVE_PHASES:
            continue
        for m in known:
            done = m.done_on is not None and m.done_on <= as_of  # reported ones too: the reaction completes them
            left = (m.planned_date - as_of).days
            if not done and 0 <= left <= DUE_WITHIN_DAYS:
                unit = names.get(m.unit_id, m.unit_id)
                out.append(MilestoneLine(projects[project_id]["name"], m.name, m.planned_date, unit, left))
    return sorted(out, key=lambda line: (line.planned_date, line.project_name))


def _overdue(
    milestones: dict[str, list[KnownMilestone]],
    projects: Mapping[str, Mapping[str, Any]],
    phases: dict[str, str],
    names: dict[str, str],
    as_of: date,
) -> list[MilestoneLine]:
    """Milestones past their date and not known done by `as_of`, of projects building or watched until 投产."""
    out = []
    for project_id in sorted(milestones):
        if phases[project_id] not in OVERDUE_PHASES:
            continue
        for m in milestones[project_id]:
            done = m.done_on is not None and m.done_on <= as_of
            if not done and m.planned_date < as_of:
                unit = names.get(m.unit_id, m.unit_id)
                days = (as_of - m.planned_date).days
                out.append(MilestoneLine(projects[project_id]["name"], m.name, m.planned_date, unit, days))
    return out


async def units_not_reported_this_week(
    conn: asyncpg.Connection,
    schema: str,
    programme_id: str,
    unit_id: str | None,
    week: ReportWeek,
    as_of: date,
    known_ids: set[str],
) -> list[MissingReport]:
    """本周未报 on the report's date: the projects that owed a report for the week under the deadline rule then in
    force and had none recorded by the end of that day (the query behind GET /v1/reporting/missing, as it stood
    then); a late report recorded by then counts as reported here, its lateness shows in the reporting light.
    Only the projects the report knows (`known_ids`: registered by then) are listed."""
    known_at = end_of_day(as_of)
    found = await missing_reports(
        conn, schema, IsoWeek.of(week.start), now=known_at, programme_id=programme_id, unit_id=unit_id,
        recorded_by=known_at,
    )  # fmt: skip
    by_unit: dict[str, list[str]] = {}
    for p in found.projects:
        if p.status != ReportWeekStatus.LATE and p.project_id in known_ids:
            by_unit.setdefault(p.unit_name, []).append(p.project_name)
    return [MissingReport(unit, project_names) for unit, project_names in sorted(by_unit.items())]


def _granted_exemptions(
    plans: dict[str, PlanState], projects: Mapping[str, Mapping[str, Any]], week: ReportWeek, known_at: datetime
) -> list[ExemptionLine]:
    """Exemptions approved by the report's date (one approved later was still requested then), each with the day
    of its approval: those granted this week, and those granted before, which stay in force for the year (a period
    exemption takes its days out of the year's 序时 plan, a milestone's excuses that milestone)."""
    out = []
    for project_id, plan in sorted(plans.items()):
        for e in plan.exemptions:
            if not granted_by(e, known_at):
                continue
            decided = e.decided_at.astimezone(CHINA).date() if e.decided_at is not None else None
            this_week = decided is not None and decided >= week.start
            if e.scope == "milestone":
                milestone = plan.milestone(e.milestone_id or "")
                scope = f"节点「{milestone.name if milestone else e.milestone_id}」"
            else:
                scope = f"{e.period_start} 至 {e.period_end}"
            out.append(ExemptionLine(projects[project_id]["name"], e.exemption_id, scope, e.reason, decided,
                                     this_week))  # fmt: skip
    return out


async def _last_meeting(
    conn: asyncpg.Connection, schema: str, programme_id: str, unit_id: str | None, as_of: date, names: dict[str, str]
) -> tuple[str | None, list[DecisionLine]]:
    """The last city dispatch meeting (or, for a unit, its own weekly one) held by the end of `as_of`, and its
    decisions, each with the 落实状态 of its tracked item as known by then (weekly_issues.py); a decision not yet
    tracked then is told by its deadline."""
    end_of_day = datetime.combine(as_of + timedelta(days=1), time(0), CHINA)
    meeting = await conn.fetchrow(
        f"SELECT id, state->>'title' AS title, scheduled_for FROM {schema}.meetings"
        " WHERE programme_id = $1 AND scheduled_for < $2"
        " AND (state->>'unit_id' IS NULL OR state->>'unit_id' = $3) ORDER BY scheduled_for DESC, id DESC LIMIT 1",
        programme_id, end_of_day, unit_id,
    )  # fmt: skip
    if meeting is None:
        return None, []
    held = meeting["scheduled_for"].astimezone(CHINA).date()
    rows = await conn.fetch(
        f"SELECT d.decision_id, d.text, d.owner_unit_id, d.deadline FROM {schema}.decisions d"
        f" LEFT JOIN {schema}.project_directory j ON j.id = d.project_id"
        " WHERE d.meeting_id = $1 AND ($2::text IS NULL OR d.owner_unit_id = $2 OR j.unit_id = $2)"
        " AND (d.recorded_at IS NULL OR d.recorded_at < $3)"  # recorded by the report's date
        " ORDER BY d.deadline, d.decision_id",
        meeting["id"], unit_id, end_of_day,
    )  # fmt: skip
    tracked = await decision_statuses(conn, schema, [r["decision_id"] for r in rows], end_of_day)
    decisions = [
        DecisionLine(r["text"], names.get(r["owner_unit_id"], r["owner_unit_id"]), r["deadline"],
                     tracked.get(r["decision_id"])
                     or ("已过完成时限,待反馈" if r["deadline"] < as_of else "未到完成时限"))
        for r in rows
    ]  # fmt: skip
    return f"{meeting['title']}({held.isoformat()})", decisions
