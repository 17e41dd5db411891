"""Gathers from the read model what a light depends on, as of a day, and computes lights (no recording here)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

import asyncpg

from services.scheduling import queries
from services.scheduling.domain import PlanState
from services.scheduling.domain_monitoring import ProjectRow
from services.scheduling.domain_rules import RuleSetState
from services.scheduling.issue_dimension_as_known import open_issues_as_known, open_orders_as_known
from services.scheduling.lights import (
    ExemptionView,
    LightResult,
    MilestoneView,
    OpenIssueView,
    ReportView,
    Situation,
    compute_light,
)
from services.scheduling.read_model import RULE_SET
from services.scheduling.reporting_cadence import end_of_day, reports_expected_from
from shared.catalogue.intake import Phase
from shared.catalogue.scheduling import Rules, RuleVersionPublished
from shared.domain_errors import NotFound

RULE_SET_ID = "default"
DEFAULT_RULES = RuleVersionPublished(version=1, effective_from=date(2000, 1, 1), rules=Rules(), note="默认规则")


async def rule_set(conn: asyncpg.Connection, schema: str) -> RuleSetState:
    state, _ = await RULE_SET.load_row(conn, schema, RULE_SET_ID)
    return state or RuleSetState()


def rules_for(rules: RuleSetState, as_of: date, version: int | None = None) -> RuleVersionPublished:
    if version is not None:
        chosen = rules.get(version)
        if chosen is None:
            raise NotFound(f"规则版本 v{version} 不存在", field="rule_version", reason="规则版本不存在")
        return chosen
    return rules.applicable(as_of) or DEFAULT_RULES


async def load_projects(conn: asyncpg.Connection, schema: str, ids: list[str] | None = None) -> list[ProjectRow]:
    return await queries.project_rows(conn, schema, ids)


async def situations(
    conn: asyncpg.Connection, schema: str, as_of: date, projects: list[ProjectRow], at: datetime | None = None
) -> dict[str, tuple[Situation, PlanState | None]]:
    ids = [p.id for p in projects]
    plan_by_project = await queries.plans_of_year(conn, schema, as_of.year, ids)
    reports: dict[str, list[ReportView]] = {}
    for r in await queries.progress_until(conn, schema, ids, as_of):
        view = ReportView(r.period_start, r.period_end, r.investment, r.recorded_at)
        reports.setdefault(r.project_id, []).append(view)
    # The issues and 督办 orders as they stood at the moment judged, never after the day (levels, statuses, deadlines
    # then): a light of an earlier day does not see an escalation or a closure recorded after it.
    known_at = min(at, end_of_day(as_of)) if at is not None else end_of_day(as_of)
    issues = await open_issues_as_known(conn, schema, ids, known_at)
    orders = await open_orders_as_known(conn, schema, ids, known_at)
    out: dict[str, tuple[Situation, PlanState | None]] = {}
    for p in projects:
        plan = plan_by_project.get(p.id)
        found = _situation(p, plan, reports.get(p.id, []), as_of)
        named = [OpenIssueView(i.id, i.summary, i.level and i.level.value) for i in issues.get(p.id, [])]
        found = dataclasses.replace(found, evaluated_at=at, open_issues=named, open_orders=orders.get(p.id, []))
        out[p.id] = (found, plan)
    return out


def monthly_without_plan(planned_start: date, annual: Decimal, year: int) -> list[Decimal]:
    """The monthly plan of a project without an annual plan yet: the annual planned investment spread evenly from the
    planned start month (or January for a continuing project)."""
    first = planned_start.month if planned_start.year == year else (1 if planned_start.year < year else 13)
    return [annual / (13 - first) if m >= first else Decimal(0) for m in range(1, 13)]


def _situation(p: ProjectRow, plan: PlanState | None, reports: list[ReportView], as_of: date) -> Situation:
    if plan is None:
        # No annual plan yet: the annual planned investment spread evenly is the time-proportional plan.
        monthly = monthly_without_plan(p.planned_start, p.annual_planned_investment, as_of.year)
        milestones: list[MilestoneView] = []
        exemptions: list[ExemptionView] = []
        annual = p.annual_planned_investment
    else:
        monthly, annual = plan.monthly_investment, plan.annual_target_investment
        milestones = [
            MilestoneView(
                m.milestone_id,
                m.name,
                m.planned_date,
                m.baseline_date,
                # A milestone reached through a progress report is the plan's own MilestoneCompleted (reaction
                # milestone_completion), never a name matched in the reports.
                m.done_on if m.done_on is not None and m.done_on <= as_of else None,
            )
            for m in plan.milestones
        ]
        exemptions = [
            ExemptionView(e.exemption_id, e.scope.value, e.milestone_id, e.period_start, e.period_end)
            for e in plan.exemptions
            if e.status == "approved"
        ]
    return Situation(
        as_of=as_of,
        phase=Phase(p.phase),
        planned_start=p.planned_start,
        year=as_of.year,
        annual_target=annual,
        monthly_investment=monthly,
        milestones=milestones,
        reports=reports,
        exemptions=exemptions,
        registered_on=reports_expected_from(p.planned_start, as_of.year),
    )


def judged_at(day: date, now: datetime) -> datetime:
    """The moment a light for `day` is judged at: now while it is that day, else the day's end (what was due by
    then; nothing is judged at a moment still to come)."""
    return min(now, end_of_day(day))


@dataclass(frozen=True)
class Evaluation:
    project: ProjectRow
    light: LightResult
    rules: RuleVersionPublished
    situation: Situation
    plan: PlanState | None


async def evaluate(
    conn: asyncpg.Connection,
    schema: str,
    as_of: date,
    *,
    project_ids: list[str] | None = None,
    rule_version: int | None = None,
    at: datetime | None = None,
) -> list[Evaluation]:
    """Lights as of the day `as_of`, judged at the moment `at` (which reporting deadlines have passed: the
    platform's now for today, by default the end of `as_of`)."""
    projects = await load_projects(conn, schema, project_ids)
    chosen = rules_for(await rule_set(conn, schema), as_of, rule_version)
    found = await situations(conn, schema, as_of, projects, at)
    return [
        Evaluation(p, compute_light(found[p.id][0], chosen.rules), chosen, found[p.id][0], found[p.id][1])
        for p in projects
    ]
