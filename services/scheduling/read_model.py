"""scheduling's read model: its own aggregates (plans, rules, lights, monitoring days, meetings) and what it needs
to know of intake's projects and progress reports, folded from intake's events in its own schema."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import date
from typing import Any

import asyncpg
from pydantic import BaseModel, Field

from services.scheduling.domain import (
    MeetingState,
    PlanState,
    RuleSetState,
    evolve_meeting,
    evolve_plan,
    evolve_rule_set,
)
from shared.aggregate_table import AggregateTable
from shared.catalogue import CATALOGUE
from shared.catalogue.intake import (
    ProgrammeRegistered,
    ProgressReported,
    ProjectDetailsAmended,
    ProjectPhaseChanged,
    ProjectRegistered,
    SponsorAssigned,
)
from shared.catalogue.scheduling import (
    MeetingDecisionRecorded,
    MilestoneDueSoonFlagged,
    MilestoneOverdueFlagged,
    MonitoringCompleted,
    ReportOverdueFlagged,
    StatusLightChanged,
)
from shared.eventstore import StoredEvent


class LightState(BaseModel):
    project_id: str
    current: StatusLightChanged | None = None


class MonitoringDayState(BaseModel):
    day: str
    emitted: list[str] = Field(default_factory=list)  # item keys already emitted for this day
    completed: bool = False


def item_key(payload: BaseModel) -> str:
    """What makes a monitoring item unique within its day."""
    if isinstance(payload, MilestoneDueSoonFlagged):
        return f"due:{payload.plan_id}:{payload.milestone_id}"
    if isinstance(payload, MilestoneOverdueFlagged):
        return f"overdue:{payload.plan_id}:{payload.milestone_id}"
    if isinstance(payload, ReportOverdueFlagged):
        return f"report:{payload.project_id}"
    if isinstance(payload, MonitoringCompleted):
        return "completed"
    raise ValueError(f"not a monitoring item: {type(payload).__name__}")


def evolve_light(state: LightState | None, event: StoredEvent) -> LightState:
    p = StatusLightChanged.model_validate(event.envelope.payload)
    return LightState(project_id=event.envelope.aggregate_id, current=p)


def evolve_day(state: MonitoringDayState | None, event: StoredEvent) -> MonitoringDayState:
    env = event.envelope
    p = CATALOGUE.load_payload(env.type, env.schema_version, env.payload)
    s = state or MonitoringDayState(day=env.aggregate_id)
    return s.model_copy(
        update={"emitted": [*s.emitted, item_key(p)], "completed": s.completed or isinstance(p, MonitoringCompleted)}
    )


PLANS = AggregateTable(
    "plans", "plan", PlanState, evolve_plan,
    {"project_id": ("text", lambda s: s.project_id), "year": ("int", lambda s: s.year),
     "baselined": ("boolean", lambda s: s.baselined)},
)  # fmt: skip
RULE_SET = AggregateTable("rule_set", "rule_set", RuleSetState, evolve_rule_set)
LIGHTS = AggregateTable(
    "lights", "light", LightState, evolve_light,
    {"colour": ("text", lambda s: s.current.colour.value if s.current else None)},
)  # fmt: skip
MONITORING_DAYS = AggregateTable("monitoring_days", "monitoring", MonitoringDayState, evolve_day)
MEETINGS = AggregateTable(
    "meetings", "dispatch_meeting", MeetingState, evolve_meeting,
    {"programme_id": ("text", lambda s: s.programme_id), "scheduled_for": ("timestamptz", lambda s: s.scheduled_for)},
)  # fmt: skip
TABLES: list[AggregateTable[Any]] = [PLANS, RULE_SET, LIGHTS, MONITORING_DAYS, MEETINGS]

DDL = """
CREATE TABLE IF NOT EXISTS {s}.programmes (id text PRIMARY KEY, name text NOT NULL, year int NOT NULL);
CREATE TABLE IF NOT EXISTS {s}.projects (
    id text PRIMARY KEY, programme_id text NOT NULL, name text NOT NULL, category text NOT NULL,
    unit_id text NOT NULL, sponsor_leader_id text, phase text NOT NULL, location text NOT NULL,
    planned_start date NOT NULL, planned_completion date NOT NULL, total_investment numeric NOT NULL,
    annual_planned_investment numeric NOT NULL, cumulative_investment numeric NOT NULL,
    image_progress_pct numeric NOT NULL, image_progress_text text NOT NULL, registered_on date NOT NULL);
CREATE TABLE IF NOT EXISTS {s}.progress (
    report_id text PRIMARY KEY, project_id text NOT NULL, period_start date NOT NULL, period_end date NOT NULL,
    investment numeric NOT NULL, milestones_done jsonb NOT NULL, recorded_at timestamptz NOT NULL,
    seq bigint NOT NULL);
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
"""


class SchedulingReadModel:
    tables = (
        "programmes", "projects", "progress", "light_history", "monitoring_items", "decisions",
        *(t.table for t in TABLES),
    )  # fmt: skip

    async def create_tables(self, conn: asyncpg.Connection, schema: str) -> None:
        await conn.execute(DDL.format(s=schema) + "".join(t.ddl(schema) for t in TABLES))

    async def apply(self, conn: asyncpg.Connection, schema: str, events: Sequence[StoredEvent]) -> None:
        for table in TABLES:
            await table.apply(conn, schema, events)
        for event in events:
            if event.envelope.aggregate_type in {"project", "programme"}:
                await self._apply_intake(conn, schema, event)
            elif event.envelope.type == "StatusLightChanged":
                p = StatusLightChanged.model_validate(event.envelope.payload)
                await conn.execute(
                    f"INSERT INTO {schema}.light_history VALUES ($1, $2, $3, $4, $5, $6, $7)",
                    event.seq, p.project_id, p.as_of, p.colour.value, p.rule_version, p.model_dump_json(),
                    event.envelope.recorded_at,
                )  # fmt: skip
            elif event.envelope.aggregate_type == "monitoring":
                payload = CATALOGUE.load_payload(
                    event.envelope.type, event.envelope.schema_version, event.envelope.payload
                )
                await conn.execute(
                    f"INSERT INTO {schema}.monitoring_items VALUES ($1, $2, $3, $4, $5, $6)",
                    event.seq, date.fromisoformat(event.envelope.payload["day"]), event.envelope.type,
                    item_key(payload), event.envelope.payload.get("project_id"), json.dumps(event.envelope.payload),
                )  # fmt: skip
            elif event.envelope.type == "MeetingDecisionRecorded":
                d = MeetingDecisionRecorded.model_validate(event.envelope.payload)
                await conn.execute(
                    f"INSERT INTO {schema}.decisions VALUES ($1, $2, $3, $4, $5, $6, $7)",
                    d.decision_id, event.envelope.aggregate_id, d.text, d.owner_unit_id, d.deadline, d.project_id,
                    event.seq,
                )  # fmt: skip

    async def _apply_intake(self, conn: asyncpg.Connection, schema: str, event: StoredEvent) -> None:
        env = event.envelope
        p = CATALOGUE.load_payload(env.type, env.schema_version, env.payload)
        pid = env.aggregate_id
        if isinstance(p, ProgrammeRegistered):
            await conn.execute(f"INSERT INTO {schema}.programmes VALUES ($1, $2, $3)", pid, p.name, p.year)
        elif isinstance(p, ProjectRegistered):
            await conn.execute(
                f"INSERT INTO {schema}.projects VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, 0, 0, '',"
                " $13)",
                pid, p.programme_id, p.name, p.category.value, p.unit_id, p.sponsor_leader_id, p.phase.value,
                p.location, p.planned_start, p.planned_completion, p.total_investment, p.annual_planned_investment,
                env.recorded_at.date(),
            )  # fmt: skip
        elif isinstance(p, ProjectDetailsAmended):
            changes = p.model_dump(
                exclude_none=True,
                include={"name", "location", "planned_start", "planned_completion", "total_investment",
                         "annual_planned_investment"},
            )  # fmt: skip
            for column, value in changes.items():
                await conn.execute(f"UPDATE {schema}.projects SET {column} = $2 WHERE id = $1", pid, value)
        elif isinstance(p, SponsorAssigned):
            await conn.execute(
                f"UPDATE {schema}.projects SET sponsor_leader_id = $2 WHERE id = $1", pid, p.sponsor_leader_id
            )
        elif isinstance(p, ProjectPhaseChanged):
            await conn.execute(f"UPDATE {schema}.projects SET phase = $2 WHERE id = $1", pid, p.to_phase.value)
        elif isinstance(p, ProgressReported):
            await conn.execute(
                f"UPDATE {schema}.projects SET cumulative_investment = $2, image_progress_pct = $3,"
                " image_progress_text = $4 WHERE id = $1",
                pid, p.cumulative_investment, p.image_progress_pct, p.image_progress_text,
            )  # fmt: skip
            await conn.execute(
                f"INSERT INTO {schema}.progress VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                p.report_id, pid, p.period_start, p.period_end, p.investment_this_period,
                json.dumps([m.model_dump(mode="json") for m in p.milestones_done]), env.recorded_at, event.seq,
            )  # fmt: skip
