"""intake's read model: programmes, projects (state + filter columns) and the progress-report ledger.

A batch is folded in memory per aggregate (one SELECT for the rows it touches, one bulk upsert), so catch-up and
rebuilds cost a few round trips per batch, not one per event.
"""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg

from services.intake.domain import ProgrammeState, ProjectState, evolve_programme, evolve_project
from shared.catalogue.intake import ProgressReported
from shared.eventstore import Position, StoredEvent

DDL = """
CREATE TABLE IF NOT EXISTS {s}.programmes (
    id text PRIMARY KEY, name text NOT NULL, year int NOT NULL, demo boolean NOT NULL,
    version int NOT NULL, last_seq bigint NOT NULL, last_hash text NOT NULL, state jsonb NOT NULL);
CREATE TABLE IF NOT EXISTS {s}.projects (
    id text PRIMARY KEY, programme_id text NOT NULL, category text NOT NULL, unit_id text NOT NULL,
    sponsor_leader_id text, phase text NOT NULL, name text NOT NULL, code text, demo boolean NOT NULL,
    registered_at timestamptz NOT NULL, version int NOT NULL, last_seq bigint NOT NULL, last_hash text NOT NULL,
    state jsonb NOT NULL);
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
        await conn.execute(DDL.format(s=schema))

    async def apply(self, conn: asyncpg.Connection, schema: str, events: Sequence[StoredEvent]) -> None:
        await self._apply_programmes(conn, schema, [e for e in events if e.envelope.aggregate_type == "programme"])
        await self._apply_projects(conn, schema, [e for e in events if e.envelope.aggregate_type == "project"])

    async def _apply_programmes(self, conn: asyncpg.Connection, schema: str, events: list[StoredEvent]) -> None:
        if not events:
            return
        rows = await conn.fetch(
            f"SELECT id, state FROM {schema}.programmes WHERE id = ANY($1)",
            list({e.envelope.aggregate_id for e in events}),
        )
        states: dict[str, ProgrammeState | None] = {
            r["id"]: ProgrammeState.model_validate_json(r["state"]) for r in rows
        }
        last: dict[str, StoredEvent] = {}
        for event in events:
            key = event.envelope.aggregate_id
            states[key] = evolve_programme(states.get(key), event)
            last[key] = event
        await conn.executemany(
            f"""INSERT INTO {schema}.programmes VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
                ON CONFLICT (id) DO UPDATE SET name = $2, year = $3, demo = $4, version = $5, last_seq = $6,
                last_hash = $7, state = $8""",
            [
                (
                    key,
                    s.name,
                    s.year,
                    s.demo,
                    last[key].envelope.version,
                    last[key].seq,
                    last[key].envelope.hash,
                    s.model_dump_json(),
                )
                for key, s in states.items()
                if s is not None and key in last
            ],
        )

    async def _apply_projects(self, conn: asyncpg.Connection, schema: str, events: list[StoredEvent]) -> None:
        if not events:
            return
        ids = list({e.envelope.aggregate_id for e in events})
        rows = await conn.fetch(f"SELECT id, state FROM {schema}.projects WHERE id = ANY($1)", ids)
        states: dict[str, ProjectState | None] = {r["id"]: ProjectState.model_validate_json(r["state"]) for r in rows}
        last: dict[str, StoredEvent] = {}
        reports = []
        for event in events:
            key = event.envelope.aggregate_id
            state = evolve_project(states.get(key), event)
            states[key] = state
            last[key] = event
            if event.envelope.type == "ProgressReported":
                p = ProgressReported.model_validate(event.envelope.payload)
                reports.append(
                    (
                        p.report_id,
                        key,
                        event.envelope.version,
                        event.seq,
                        p.period_start,
                        p.period_end,
                        p.investment_this_period,
                        p.cumulative_investment,
                        p.image_progress_pct,
                        p.image_progress_text,
                        "[" + ",".join(m.model_dump_json() for m in p.milestones_done) + "]",
                        event.envelope.actor.org_id,
                        event.envelope.recorded_at,
                    )
                )
        await conn.executemany(
            f"""INSERT INTO {schema}.projects VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)
                ON CONFLICT (id) DO UPDATE SET programme_id = $2, category = $3, unit_id = $4,
                sponsor_leader_id = $5, phase = $6, name = $7, code = $8, demo = $9, version = $11,
                last_seq = $12, last_hash = $13, state = $14""",
            [
                (
                    key,
                    s.programme_id,
                    s.category.value,
                    s.unit_id,
                    s.sponsor_leader_id,
                    s.phase.value,
                    s.name,
                    s.code,
                    s.demo,
                    s.registered_at,
                    last[key].envelope.version,
                    last[key].seq,
                    last[key].envelope.hash,
                    s.model_dump_json(),
                )
                for key, s in states.items()
                if s is not None and key in last
            ],
        )
        if reports:
            await conn.executemany(
                f"INSERT INTO {schema}.progress_reports VALUES "
                "($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11::jsonb, $12, $13)",
                reports,
            )


class ProjectAggregate:
    aggregate_type = "project"

    def evolve(self, state: ProjectState | None, event: StoredEvent) -> ProjectState:
        return evolve_project(state, event)

    async def load_row(
        self, conn: asyncpg.Connection, schema: str, aggregate_id: str
    ) -> tuple[ProjectState | None, Position]:
        row = await conn.fetchrow(
            f"SELECT state, version, last_seq, last_hash FROM {schema}.projects WHERE id = $1", aggregate_id
        )
        if row is None:
            return None, Position()
        return ProjectState.model_validate_json(row["state"]), Position(
            row["version"], row["last_seq"], row["last_hash"]
        )


class ProgrammeAggregate:
    aggregate_type = "programme"

    def evolve(self, state: ProgrammeState | None, event: StoredEvent) -> ProgrammeState:
        return evolve_programme(state, event)

    async def load_row(
        self, conn: asyncpg.Connection, schema: str, aggregate_id: str
    ) -> tuple[ProgrammeState | None, Position]:
        row = await conn.fetchrow(
            f"SELECT state, version, last_seq, last_hash FROM {schema}.programmes WHERE id = $1", aggregate_id
        )
        if row is None:
            return None, Position()
        return (
            ProgrammeState.model_validate_json(row["state"]),
            Position(row["version"], row["last_seq"], row["last_hash"]),
        )
