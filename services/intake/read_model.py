"""intake's read model: programmes, projects (state + filter columns) and the progress-report ledger.

A batch is folded in memory per aggregate (one SELECT for the rows it touches, one bulk upsert), so catch-up and
rebuilds cost a few round trips per batch, not one per event.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

import asyncpg

from services.intake.domain import ProgrammeState, ProjectState, evolve_programme, evolve_project
from shared.aggregate_table import AggregateTable
from shared.catalogue.intake import ProgressReported
from shared.eventstore import StoredEvent

PROGRAMMES = AggregateTable(
    "programmes", "programme", ProgrammeState, evolve_programme,
    {"name": ("text", lambda s: s.name), "year": ("int", lambda s: s.year), "demo": ("boolean", lambda s: s.demo)},
)  # fmt: skip
PROJECTS = AggregateTable(
    "projects", "project", ProjectState, evolve_project,
    {
        "programme_id": ("text", lambda s: s.programme_id), "category": ("text", lambda s: s.category.value),
        "unit_id": ("text", lambda s: s.unit_id), "sponsor_leader_id": ("text", lambda s: s.sponsor_leader_id),
        "phase": ("text", lambda s: s.phase.value), "name": ("text", lambda s: s.name),
        "code": ("text", lambda s: s.code), "demo": ("boolean", lambda s: s.demo),
        "registered_at": ("timestamptz", lambda s: s.registered_at),
    },
)  # fmt: skip

DDL = """
CREATE INDEX IF NOT EXISTS projects_filter ON {s}.projects (programme_id, category, unit_id, phase);
CREATE INDEX IF NOT EXISTS projects_code ON {s}.projects (code) WHERE code IS NOT NULL;
CREATE TABLE IF NOT EXISTS {s}.progress_reports (
    report_id text PRIMARY KEY, project_id text NOT NULL, project_version int NOT NULL, seq bigint NOT NULL,
    period_start date NOT NULL, period_end date NOT NULL, investment_this_period numeric NOT NULL,
    cumulative_investment numeric NOT NULL, image_progress_pct numeric NOT NULL, image_progress_text text NOT NULL,
    milestones_done jsonb NOT NULL, reported_by text NOT NULL, recorded_at timestamptz NOT NULL);
CREATE INDEX IF NOT EXISTS progress_reports_project ON {s}.progress_reports (project_id, period_end);
"""


class IntakeReadModel:
    tables = ("programmes", "projects", "progress_reports")

    async def create_tables(self, conn: asyncpg.Connection, schema: str) -> None:
        await conn.execute(PROGRAMMES.ddl(schema) + PROJECTS.ddl(schema) + DDL.format(s=schema))

    async def apply(self, conn: asyncpg.Connection, schema: str, events: Sequence[StoredEvent]) -> None:
        await PROGRAMMES.apply(conn, schema, events)
        await PROJECTS.apply(conn, schema, events)
        reports = []
        for event in events:
            if event.envelope.type != "ProgressReported":
                continue
            p = ProgressReported.model_validate(event.envelope.payload)
            reports.append(
                (p.report_id, event.envelope.aggregate_id, event.envelope.version, event.seq, p.period_start,
                 p.period_end, p.investment_this_period, p.cumulative_investment, p.image_progress_pct,
                 p.image_progress_text, json.dumps([m.model_dump(mode="json") for m in p.milestones_done]),
                 event.envelope.actor.org_id, event.envelope.recorded_at)
            )  # fmt: skip
        if reports:
            await conn.executemany(
                f"INSERT INTO {schema}.progress_reports VALUES "
                "($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11::jsonb, $12, $13)",
                reports,
            )
