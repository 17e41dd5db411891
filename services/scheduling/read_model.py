"""scheduling's read model: its own aggregates (plans, rules, lights, monitoring days, meetings), the figures it
needs of intake's projects and progress reports, and rows appended per event (history, items, decisions).

Who answers for a project (unit, sponsor, task force, phase) is not copied here: the shared project directory
(`shared.project_directory`) is a part of this service's read model beside this one.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable, Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import asyncpg
from pydantic import BaseModel, Field

from services.scheduling.domain import PlanState, evolve_plan
from services.scheduling.domain_meetings import MeetingState, evolve_meeting
from services.scheduling.domain_monitoring import LightState, MonitoringDayState, evolve_day, evolve_light, item_key
from services.scheduling.domain_rules import RuleSetState, evolve_rule_set
from services.scheduling.plan_figures_as_known import DDL as PLAN_FIGURES_DDL
from services.scheduling.plan_figures_as_known import append_plan_figures
from services.scheduling.progress_as_known import DDL as REVISIONS_DDL
from services.scheduling.progress_as_known import append_revisions
from services.scheduling.project_figures_as_known import PLANNED_FIELDS, PlannedBefore, planned_history
from shared.aggregate_table import AggregateTable, insert_rows
from shared.catalogue.intake import (
    ProgrammeRegistered,
    ProgressReportAccepted,
    ProgressReportCorrected,
    ProgressReported,
    ProjectDetailsAmended,
    ProjectPhaseChanged,
    ProjectRegistered,
)
from shared.catalogue.scheduling import MeetingDecisionRecorded, StatusLightChanged
from shared.ddl import lock_free_when_done
from shared.eventstore import StoredEvent
from shared.verification import payload_as

# -- intake's figures of a project (planning and progress), folded per project ----------------------------------


class ProjectFigures(BaseModel):
    location: str
    planned_start: date
    planned_completion: date
    total_investment: Decimal
    annual_planned_investment: Decimal
    cumulative_investment: Decimal = Decimal(0)
    image_progress_pct: Decimal = Decimal(0)
    image_progress_text: str = ""
    registered_on: date
    # For the ledger and the bulletin (defaults: a read model folded before they were kept; a rebuild fills them).
    code: str | None = None
    construction_content: str = ""
    construction_type: str = "new"
    district: str | None = None
    # The planned figures before each amendment that changed them, with its record time: a report as known on D
    # (project_figures_as_known.py; empty: folded before it was kept, a rebuild fills it).
    planned_before: list[PlannedBefore] = Field(default_factory=list)


def _amended(f: ProjectFigures, p: ProjectDetailsAmended, recorded_at: datetime) -> ProjectFigures:
    fields = {"location", "planned_start", "planned_completion", "total_investment", "annual_planned_investment",
              "code", "construction_content", "construction_type"}  # fmt: skip
    update = p.model_dump(exclude_none=True, include=fields)
    history = planned_history(f.model_dump(include=set(PLANNED_FIELDS)), f.planned_before, update, recorded_at)
    return f.model_copy(update={**update, "planned_before": history})


def _reported(f: ProjectFigures, p: ProgressReported) -> ProjectFigures:
    # 累计完成投资 counts accepted reports; one recorded before the review existed counted at once (its cumulative).
    cumulative = f.cumulative_investment if p.awaiting_review else p.cumulative_investment
    update = {"cumulative_investment": cumulative, "image_progress_pct": p.image_progress_pct,
              "image_progress_text": p.image_progress_text}  # fmt: skip
    return f.model_copy(update=update)


def _corrected(f: ProjectFigures, p: ProgressReportCorrected) -> ProjectFigures:
    update = {"image_progress_pct": p.image_progress_pct, "image_progress_text": p.image_progress_text}
    return f.model_copy(update=update)


def _accepted(f: ProjectFigures, p: ProgressReportAccepted) -> ProjectFigures:
    change = p.investment_accepted - p.investment_previously_accepted
    return f.model_copy(update={"cumulative_investment": f.cumulative_investment + change})


FIGURE_CHANGES: dict[str, Callable[[ProjectFigures, Any], ProjectFigures]] = {
    "ProgressReported": _reported,
    "ProgressReportCorrected": _corrected,
    "ProgressReportAccepted": _accepted,
}


def evolve_figures(state: ProjectFigures | None, event: StoredEvent) -> ProjectFigures:
    env = event.envelope
    if env.type == "ProjectRegistered":
        p = payload_as(event, ProjectRegistered)
        return ProjectFigures(
            location=p.location, planned_start=p.planned_start, planned_completion=p.planned_completion,
            total_investment=p.total_investment, annual_planned_investment=p.annual_planned_investment,
            registered_on=env.recorded_at.date(), cumulative_investment=p.investment_completed_before,
            code=p.code, construction_content=p.construction_content,
            construction_type=p.construction_type.value, district=p.district,
        )  # fmt: skip
    if state is None:
        raise ValueError(f"{env.type} before ProjectRegistered for {env.aggregate_id}")
    if env.type == "ProjectDetailsAmended":  # the one change that also records when (planned_before)
        return _amended(state, payload_as(event, ProjectDetailsAmended), env.recorded_at)
    change = FIGURE_CHANGES.get(env.type)
    return state if change is None else change(state, payload_as(event, BaseModel))


# -- the tables of folded aggregates -----------------------------------------------------------------------------

PLANS = AggregateTable(
    "plans", "plan", PlanState, evolve_plan,
    {"project_id": ("text", lambda s: s.project_id), "year": ("int", lambda s: s.year),
     "baselined": ("boolean", lambda s: s.baselined)},
    snapshot_every=32,
)  # fmt: skip
RULE_SET = AggregateTable("rule_set", "rule_set", RuleSetState, evolve_rule_set)
LIGHTS = AggregateTable(
    "lights", "light", LightState, evolve_light,
    {"colour": ("text", lambda s: s.current.colour.value if s.current else None)},
    snapshot_every=32,  # a light is recorded again most days; its state is the last record
)  # fmt: skip
MONITORING_DAYS = AggregateTable("monitoring_days", "monitoring", MonitoringDayState, evolve_day)
MEETINGS = AggregateTable(
    "meetings", "dispatch_meeting", MeetingState, evolve_meeting,
    {"programme_id": ("text", lambda s: s.programme_id), "scheduled_for": ("timestamptz", lambda s: s.scheduled_for)},
)  # fmt: skip
FIGURES = AggregateTable(
    "project_figures", "project", ProjectFigures, evolve_figures,
    {"location": ("text", lambda s: s.location), "planned_start": ("date", lambda s: s.planned_start),
     "planned_completion": ("date", lambda s: s.planned_completion),
     "total_investment": ("numeric", lambda s: s.total_investment),
     "annual_planned_investment": ("numeric", lambda s: s.annual_planned_investment),
     "cumulative_investment": ("numeric", lambda s: s.cumulative_investment),
     "image_progress_pct": ("numeric", lambda s: s.image_progress_pct),
     "image_progress_text": ("text", lambda s: s.image_progress_text),
     "registered_on": ("date", lambda s: s.registered_on)},
)  # fmt: skip
TABLES: list[AggregateTable[Any]] = [PLANS, RULE_SET, LIGHTS, MONITORING_DAYS, MEETINGS, FIGURES]

# -- rows appended per event: event type -> (table, row) ---------------------------------------------------------


def _programme(event: StoredEvent) -> tuple[Any, ...]:
    p = payload_as(event, ProgrammeRegistered)
    return (event.envelope.aggregate_id, p.name, p.year)


def _progress(event: StoredEvent) -> tuple[Any, ...]:
    p = payload_as(event, ProgressReported)
    # Most weekly reports complete no milestone: their "[]" needs no encoder (~1 us a report in a rebuild).
    done = json.dumps([m.model_dump(mode="json") for m in p.milestones_done]) if p.milestones_done else "[]"
    status = "pending" if p.awaiting_review else "accepted"
    return (p.report_id, event.envelope.aggregate_id, p.period_start, p.period_end, p.investment_this_period, done,
            event.envelope.recorded_at, event.seq, status)  # fmt: skip


# How corrections and reviews change a report's row in `progress`: (investment or None, status).
REPORT_UPDATES: dict[str, Callable[[Any], tuple[Decimal | None, str]]] = {
    "ProgressReportCorrected": lambda p: (p.investment_this_period, "pending"),
    "ProgressReportAccepted": lambda _: (None, "accepted"),
    "ProgressReportReturned": lambda _: (None, "returned"),
}


async def update_reports(conn: asyncpg.Connection, schema: str, events: Sequence[StoredEvent]) -> None:
    """Corrections and reviews of a batch, one UPDATE: each report's latest figure and status (after the batch's
    inserts, so a report and its correction may share a batch)."""
    latest: dict[str, tuple[Decimal | None, str]] = {}
    for event in events:
        if (change := REPORT_UPDATES.get(event.envelope.type)) is not None:
            p = payload_as(event, BaseModel)
            investment, status = change(p)
            before = latest.get(p.report_id)  # type: ignore[attr-defined]
            kept = investment if investment is not None else (before[0] if before else None)
            latest[p.report_id] = (kept, status)  # type: ignore[attr-defined]
    if latest:
        await conn.execute(
            f"UPDATE {schema}.progress t SET investment = coalesce(u.investment, t.investment), status = u.status"
            " FROM unnest($1::text[], $2::numeric[], $3::text[]) AS u(report_id, investment, status)"
            " WHERE t.report_id = u.report_id",
            list(latest), [v[0] for v in latest.values()], [v[1] for v in latest.values()],
        )  # fmt: skip


def _light(event: StoredEvent) -> tuple[Any, ...]:
    p = payload_as(event, StatusLightChanged)
    return (event.seq, p.project_id, p.as_of, p.colour.value, p.rule_version, p.model_dump_json(),
            event.envelope.recorded_at)  # fmt: skip


def _item(event: StoredEvent) -> tuple[Any, ...]:
    env = event.envelope
    key = item_key(payload_as(event, BaseModel))
    return (event.seq, date.fromisoformat(env.payload["day"]), env.type, key, env.payload.get("project_id"),
            json.dumps(env.payload))  # fmt: skip


def _phase_change(event: StoredEvent) -> tuple[Any, ...]:
    p = payload_as(event, ProjectPhaseChanged)
    return (event.seq, event.envelope.aggregate_id, p.from_phase.value, p.to_phase.value, event.envelope.recorded_at)


def _decision(event: StoredEvent) -> tuple[Any, ...]:
    d = payload_as(event, MeetingDecisionRecorded)
    return (d.decision_id, event.envelope.aggregate_id, d.text, d.owner_unit_id, d.deadline, d.project_id, event.seq,
            event.envelope.recorded_at)  # fmt: skip


# The columns of each table rows are appended to (name -> SQL type, in the order the row functions give them).
ROW_COLUMNS: dict[str, dict[str, str]] = {
    "programmes": {"id": "text", "name": "text", "year": "int"},
    "progress": {"report_id": "text", "project_id": "text", "period_start": "date", "period_end": "date",
                 "investment": "numeric", "milestones_done": "jsonb", "recorded_at": "timestamptz", "seq": "bigint",
                 "status": "text"},
    "light_history": {"seq": "bigint", "project_id": "text", "as_of": "date", "colour": "text", "rule_version": "int",
                      "payload": "jsonb", "recorded_at": "timestamptz"},
    "monitoring_items": {"seq": "bigint", "day": "date", "kind": "text", "item_key": "text", "project_id": "text",
                         "payload": "jsonb"},
    "phase_changes": {"seq": "bigint", "project_id": "text", "from_phase": "text", "to_phase": "text",
                      "recorded_at": "timestamptz"},
    "decisions": {"decision_id": "text", "meeting_id": "text", "text": "text", "owner_unit_id": "text",
                  "deadline": "date", "project_id": "text", "seq": "bigint", "recorded_at": "timestamptz"},
}  # fmt: skip

ROWS: dict[str, tuple[str, Callable[[StoredEvent], tuple[Any, ...]]]] = {
    "ProgrammeRegistered": ("programmes", _programme),
    "ProgressReported": ("progress", _progress),
    "StatusLightChanged": ("light_history", _light),
    "MilestoneDueSoonFlagged": ("monitoring_items", _item),
    "MilestoneOverdueFlagged": ("monitoring_items", _item),
    "ReportOverdueFlagged": ("monitoring_items", _item),
    "MonitoringCompleted": ("monitoring_items", _item),
    "MeetingDecisionRecorded": ("decisions", _decision),
    "ProjectPhaseChanged": ("phase_changes", _phase_change),
}

DDL = """
CREATE TABLE IF NOT EXISTS {s}.programmes (id text PRIMARY KEY, name text NOT NULL, year int NOT NULL);
CREATE TABLE IF NOT EXISTS {s}.progress (
    report_id text PRIMARY KEY, project_id text NOT NULL, period_start date NOT NULL, period_end date NOT NULL,
    investment numeric NOT NULL, milestones_done jsonb NOT NULL, recorded_at timestamptz NOT NULL,
    seq bigint NOT NULL);
-- A report's review status (pending 待审核, accepted, returned 退回); reports before the review counted at once.
ALTER TABLE {s}.progress ADD COLUMN IF NOT EXISTS status text NOT NULL DEFAULT 'accepted';
CREATE INDEX IF NOT EXISTS progress_project ON {s}.progress (project_id, period_end);
CREATE TABLE IF NOT EXISTS {s}.light_history (
    seq bigint PRIMARY KEY, project_id text NOT NULL, as_of date NOT NULL, colour text NOT NULL,
    rule_version int NOT NULL, payload jsonb NOT NULL, recorded_at timestamptz NOT NULL);
CREATE INDEX IF NOT EXISTS light_history_project ON {s}.light_history (project_id, seq);
CREATE TABLE IF NOT EXISTS {s}.monitoring_items (
    seq bigint PRIMARY KEY, day date NOT NULL, kind text NOT NULL, item_key text NOT NULL, project_id text,
    payload jsonb NOT NULL, UNIQUE (day, item_key));
CREATE TABLE IF NOT EXISTS {s}.decisions (
    decision_id text PRIMARY KEY, meeting_id text NOT NULL, text text NOT NULL, owner_unit_id text NOT NULL,
    deadline date NOT NULL, project_id text, seq bigint NOT NULL);
-- A project's phase as known on a report's date (the directory holds the phase now).
CREATE TABLE IF NOT EXISTS {s}.phase_changes (
    seq bigint PRIMARY KEY, project_id text NOT NULL, from_phase text NOT NULL, to_phase text NOT NULL,
    recorded_at timestamptz NOT NULL);
CREATE INDEX IF NOT EXISTS phase_changes_project ON {s}.phase_changes (project_id, seq);
-- When a decision was recorded: a report dated before it does not list it (NULL: folded before it was kept).
ALTER TABLE {s}.decisions ADD COLUMN IF NOT EXISTS recorded_at timestamptz;
"""


class SchedulingReadModel:
    tables = ("programmes", "progress", "report_revisions", "plan_figures", "phase_changes", "light_history",
              "monitoring_items", "decisions", *(name for t in TABLES for name in t.tables))  # fmt: skip

    async def create_tables(self, conn: asyncpg.Connection, schema: str) -> None:
        ddl = DDL.format(s=schema) + REVISIONS_DDL.format(s=schema) + PLAN_FIGURES_DDL.format(s=schema)
        ddl += "".join(t.ddl(schema) for t in TABLES)
        await conn.execute(lock_free_when_done(ddl))

    async def apply(self, conn: asyncpg.Connection, schema: str, events: Sequence[StoredEvent]) -> None:
        for folded in TABLES:
            await folded.apply(conn, schema, events)
        rows: dict[str, list[tuple[Any, ...]]] = defaultdict(list)
        for event in events:
            if (target := ROWS.get(event.envelope.type)) is not None:
                table, row = target
                rows[table].append(row(event))
        for table, batch in rows.items():
            await insert_rows(conn, f"{schema}.{table}", ROW_COLUMNS[table], batch)
        await update_reports(conn, schema, events)
        await append_revisions(conn, schema, events)  # the same changes with their record time (as known on D)
        await append_plan_figures(conn, schema, events)  # each version of a plan's figures (as known on D)
