"""本周未报: the projects (and their units) that have not reported an ISO week by its deadline, under the rule version
in force for that week. The API answers it (`/v1/reporting/missing`) and the weekly report has a section on it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, datetime

import asyncpg

from services.scheduling import queries
from services.scheduling.domain_monitoring import ACTIVE, ProjectRow
from services.scheduling.evaluation import rule_set, rules_for
from services.scheduling.phases_as_known import phases_as_known
from services.scheduling.plan_as_known import granted_by
from services.scheduling.project_figures_as_known import planned_of
from services.scheduling.reporting_cadence import (
    FiledReport,
    IsoWeek,
    deadline,
    reports_expected_from,
    week_status,
)
from shared.catalogue.scheduling import ReportWeekStatus

NOT_REPORTED = {ReportWeekStatus.MISSING, ReportWeekStatus.PENDING, ReportWeekStatus.LATE}


@dataclass(frozen=True)
class MissingReport:
    project_id: str
    project_name: str
    programme_id: str
    category: str
    unit_id: str
    unit_name: str
    sponsor_leader_id: str | None
    status: ReportWeekStatus  # missing (deadline passed), pending (before it), late (reported after it)
    recorded_at: datetime | None  # when a late report came
    last_period_end: str | None  # the end of the last period reported before or in the week


@dataclass(frozen=True)
class MissingReports:
    week: IsoWeek
    deadline: datetime
    deadline_passed: bool
    rule_version: int
    projects: list[MissingReport]  # by unit, then project

    def units(self) -> list[UnitCount]:
        """Each unit on the list with its number of projects there, and of those not reported at all yet."""
        out: dict[str, UnitCount] = {}
        for p in self.projects:
            unit = out.setdefault(p.unit_id, UnitCount(p.unit_id, p.unit_name))
            unit.projects += 1
            unit.not_reported += int(p.status != ReportWeekStatus.LATE)
        return list(out.values())


@dataclass
class UnitCount:
    unit_id: str
    unit_name: str
    projects: int = 0
    not_reported: int = 0


async def missing_reports(
    conn: asyncpg.Connection,
    schema: str,
    week: IsoWeek,
    *,
    now: datetime,
    programme_id: str | None = None,
    unit_id: str | None = None,
    sponsor_id: str | None = None,
    recorded_by: datetime | None = None,
) -> MissingReports:
    """The projects in an active phase that owed a report for `week` and had none by its deadline (missing, or late
    when it came after), or have none yet before it (pending), as known at `now`. A project is owed a report when
    the week's deadline falls on or after the day reports were expected of it; a week an approved period exemption
    covers (on the deadline day) is excused. Narrowed to a programme, a unit or a sponsor's projects when given.

    `recorded_by` leaves out reports recorded after it and takes each project's phase, planned start and approved
    exemptions as known then (the list as it stood then, e.g. on a weekly report's date; `recorded_at` is on the
    platform clock, docs/adr/0017)."""
    rules = rules_for(await rule_set(conn, schema), week.day(1))
    due = deadline(week, rules.rules)
    rows = await queries.project_rows(conn, schema)
    if recorded_by is not None:
        rows = await _as_known(conn, schema, rows, recorded_by)
    projects = [
        p
        for p in rows
        if p.phase in ACTIVE
        and (programme_id is None or p.programme_id == programme_id)
        and (unit_id is None or p.unit_id == unit_id)
        and (sponsor_id is None or p.sponsor_leader_id == sponsor_id)
        and due.date() >= reports_expected_from(p.planned_start, due.year)
    ]
    ids = [p.id for p in projects]
    plans = await queries.plans_of_year(conn, schema, due.year, ids)
    filed: dict[str, list[FiledReport]] = {}
    last: dict[str, str] = {}
    # A report ending after the week may still span its Sunday (FiledReport.covers); rows come by period end.
    for r in await queries.progress_until(conn, schema, ids, date.max):
        if recorded_by is not None and r.recorded_at > recorded_by:
            continue
        filed.setdefault(r.project_id, []).append(FiledReport(r.period_start, r.period_end, r.recorded_at))
        if r.period_end <= week.day(7):
            last[r.project_id] = r.period_end.isoformat()
    names = await queries.organisation_names(conn, schema)
    found: list[MissingReport] = []
    for p in projects:
        plan = plans.get(p.id)
        exempt = plan is not None and any(
            (e.status == "approved" if recorded_by is None else granted_by(e, recorded_by))
            and e.period_start is not None and e.period_end is not None
            and e.period_start <= due.date() <= e.period_end
            for e in plan.exemptions
        )  # fmt: skip
        status = week_status(week, rules.rules, filed.get(p.id, []), now)
        if exempt or status.status not in NOT_REPORTED:
            continue
        found.append(
            MissingReport(
                p.id, p.name, p.programme_id, p.category, p.unit_id, names.get(p.unit_id, p.unit_id),
                p.sponsor_leader_id, status.status, status.recorded_at, last.get(p.id),
            )
        )  # fmt: skip
    found.sort(key=lambda m: (m.unit_id, m.project_id))
    return MissingReports(week, due, due <= now, rules.version, found)


async def _as_known(
    conn: asyncpg.Connection, schema: str, rows: list[ProjectRow], known_at: datetime
) -> list[ProjectRow]:
    """The projects with the phase and planned start they had at `known_at`."""
    phases = await phases_as_known(conn, schema, {p.id: p.phase for p in rows}, known_at)
    planned = await planned_of(conn, schema, [p.id for p in rows], known_at)
    return [
        replace(p, phase=phases[p.id], planned_start=planned.get(p.id, {}).get("planned_start", p.planned_start))
        for p in rows
    ]
