"""intake's progress ledger (进度台账) and what it knows of scheduling's plans, as read-model parts.

- `progress_reports`: one row per report, its state folded by `progress.evolve_report` (figures as corrected,
  review status); written in bulk, one upsert per batch (and one SELECT when it corrects or reviews older reports).
- `progress_report_history`: every event of a report (the original, each correction with its reason, each review),
  so the original stays visible beside the corrections.
- `plan_milestones`: the milestone ids and names of every project's plans, folded from scheduling's PlanDrafted and
  PlanRevised (a projection may read any event of the stream; docs/adr/0015): a report naming a milestone no plan
  of its project has is refused. Baselines and re-baselines move dates only, so they are not needed here.
- `ProjectReportSpec`: what a correction or review loads, the project and the one report it names, from their rows
  plus the events after them (shared.commands.load), like any aggregate.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import asyncpg
from pydantic_core import to_json

from services.intake.domain import ProjectState, evolve_project
from services.intake.progress import REPORT_EVENTS, ProjectReport, ReportState, evolve_report
from shared.aggregate_table import COPY_FROM_ROWS, RowTable, insert_rows
from shared.catalogue import CATALOGUE
from shared.catalogue.scheduling import PlanDrafted, PlanRevised
from shared.eventstore import Position, StoredEvent
from shared.read_notices import notify_changed

# The kind of the entries a change of a project's plan milestones makes out of date (shared.read_notices).
PLAN_MILESTONES_NOTICE = "plan_milestones"
REPORT_EVENT_TYPES = frozenset(t.__name__ for t in REPORT_EVENTS)
REPORT_COLUMNS = {
    "report_id": "text", "project_id": "text", "period_start": "date", "period_end": "date", "status": "text",
    "last_seq": "bigint", "state": "jsonb",
}  # fmt: skip


class ReportLedger:
    """The `progress_reports` table: each report's folded state, keyed by report id."""

    table = "progress_reports"

    def ddl(self, schema: str) -> str:
        return (
            f"CREATE TABLE IF NOT EXISTS {schema}.{self.table} (report_id text PRIMARY KEY, project_id text NOT NULL,"
            " period_start date NOT NULL, period_end date NOT NULL, status text NOT NULL, last_seq bigint NOT NULL,"
            " state jsonb NOT NULL);"
            f"CREATE INDEX IF NOT EXISTS progress_reports_project ON {schema}.{self.table} (project_id, period_end);"
        )

    async def apply(self, conn: asyncpg.Connection, schema: str, events: Sequence[StoredEvent]) -> None:
        mine = [e for e in events if e.envelope.type in REPORT_EVENT_TYPES]
        if not mine:
            return
        # A report's first event creates it, so only the reports a batch corrects or reviews without filing them in
        # the same batch have a row to read: a batch of new reports (the weekly load) reads nothing.
        filed: set[str] = set()
        older: set[str] = set()
        for event in mine:
            report_id = CATALOGUE.payload_of(event).report_id  # type: ignore[attr-defined]
            if event.envelope.type == "ProgressReported":
                filed.add(report_id)
            elif report_id not in filed:
                older.add(report_id)
        states: dict[str, ReportState] = {}
        if older:
            rows = await conn.fetch(
                f"SELECT report_id, state FROM {schema}.{self.table} WHERE report_id = ANY($1)", list(older)
            )
            states = {r["report_id"]: ReportState.model_validate_json(r["state"]) for r in rows}
        last: dict[str, int] = {}
        for event in mine:
            payload = CATALOGUE.payload_of(event)
            report_id = payload.report_id  # type: ignore[attr-defined]
            states[report_id] = evolve_report(states.get(report_id), event.envelope, payload)  # type: ignore[arg-type]
            last[report_id] = event.seq
        out = [
            (s.report_id, s.project_id, s.period_start, s.period_end, s.status.value, last[k], s.model_dump_json())
            for k, s in states.items()
            if k in last
        ]
        table = f"{schema}.{self.table}"
        upsert = "ON CONFLICT (report_id) DO UPDATE SET status = EXCLUDED.status, last_seq = EXCLUDED.last_seq, state"
        if len(filed) < COPY_FROM_ROWS:  # a live batch: one upsert (finding the new rows would cost a round trip)
            await insert_rows(conn, table, REPORT_COLUMNS, out, on_conflict=upsert + " = EXCLUDED.state")
            return
        # A bulk batch (a rebuild's weekly load): the reports it files are new rows, appended by COPY (~5 us less CPU
        # a report than the upsert, PostgreSQL's and ours), unless the table holds their id already (an id filed
        # twice in the log): those are upserted, the latest state kept, like the reports corrected or reviewed.
        held = await conn.fetch(f"SELECT report_id FROM {table} WHERE report_id = ANY($1)", list(filed))
        upserted = older.union(r["report_id"] for r in held)
        await insert_rows(conn, table, REPORT_COLUMNS, [row for row in out if row[0] not in upserted])
        changed = [row for row in out if row[0] in upserted]
        await insert_rows(conn, table, REPORT_COLUMNS, changed, on_conflict=upsert + " = EXCLUDED.state")


def _history_row(event: StoredEvent) -> tuple[Any, ...]:
    env = event.envelope
    # JSON for a jsonb column (which keeps values, not text): pydantic-core's encoder, a third of json.dumps's time.
    return (event.seq, env.payload["report_id"], env.aggregate_id, env.type, to_json(env.payload).decode(),
            env.actor.org_id, env.recorded_at)  # fmt: skip


REPORT_HISTORY = RowTable(
    "progress_report_history",
    {"seq": "bigint", "report_id": "text", "project_id": "text", "type": "text", "payload": "jsonb",
     "actor": "text", "recorded_at": "timestamptz"},
    dict.fromkeys(REPORT_EVENT_TYPES, _history_row),
)  # fmt: skip


class PlanMilestones:
    """The `plan_milestones` table: per plan, its project, year and milestones (id and name)."""

    table = "plan_milestones"

    def ddl(self, schema: str) -> str:
        return (
            f"CREATE TABLE IF NOT EXISTS {schema}.{self.table} (plan_id text PRIMARY KEY, project_id text NOT NULL,"
            " year int NOT NULL, milestones jsonb NOT NULL);"
            f"CREATE INDEX IF NOT EXISTS plan_milestones_project ON {schema}.{self.table} (project_id);"
        )

    async def apply(self, conn: asyncpg.Connection, schema: str, events: Sequence[StoredEvent]) -> None:
        drafted: dict[str, tuple[str, int, str]] = {}
        revised: dict[str, str] = {}
        for event in events:
            payload = CATALOGUE.payload_of(event) if event.envelope.type in ("PlanDrafted", "PlanRevised") else None
            if payload is None:
                continue
            plan_id = event.envelope.aggregate_id
            names = json.dumps([{"milestone_id": m.milestone_id, "name": m.name} for m in payload.milestones])  # type: ignore[attr-defined]
            if isinstance(payload, PlanDrafted):
                drafted[plan_id] = (payload.project_id, payload.year, names)
                revised.pop(plan_id, None)
            elif isinstance(payload, PlanRevised):
                if plan_id in drafted:
                    drafted[plan_id] = (*drafted[plan_id][:2], names)
                else:
                    revised[plan_id] = names
        table = f"{schema}.{self.table}"
        rows = [(plan_id, *values) for plan_id, values in drafted.items()]
        columns = {"plan_id": "text", "project_id": "text", "year": "int", "milestones": "jsonb"}
        await insert_rows(conn, table, columns, rows, on_conflict="ON CONFLICT (plan_id) DO NOTHING")
        changed = [project_id for project_id, _, _ in drafted.values()]
        if revised:
            updated = await conn.fetch(
                f"UPDATE {table} t SET milestones = u.milestones FROM unnest($1::text[], $2::jsonb[])"
                " AS u(plan_id, milestones) WHERE t.plan_id = u.plan_id RETURNING t.project_id",
                list(revised), list(revised.values()),
            )  # fmt: skip
            changed += [r["project_id"] for r in updated]
        # API processes keep each project's milestones in memory (progress_handlers.plan_milestones_finding).
        await notify_changed(conn, schema, PLAN_MILESTONES_NOTICE, changed)


@dataclass
class ProjectReportSpec:
    """The project and one of its reports as a command loads them (shared.commands.AggregateSpec): the two rows,
    committed together by the projection, then the project's events after them folded into both."""

    report_id: str
    aggregate_type: str = "project"

    def evolve(self, state: ProjectReport | None, event: StoredEvent) -> ProjectReport:
        payload = CATALOGUE.payload_of(event)
        project = evolve_project(None if state is None else state.project, event.envelope, payload)
        report = None if state is None else state.report
        if isinstance(payload, REPORT_EVENTS) and payload.report_id == self.report_id:
            report = evolve_report(report, event.envelope, payload)
        return ProjectReport(project, report)

    async def load_row(
        self, conn: asyncpg.Connection, schema: str, aggregate_id: str
    ) -> tuple[ProjectReport | None, Position]:
        row = await conn.fetchrow(
            f"SELECT p.state, p.version, p.last_seq, p.last_hash, r.state AS report FROM {schema}.projects p"
            f" LEFT JOIN {schema}.progress_reports r ON r.report_id = $2 AND r.project_id = p.id WHERE p.id = $1",
            aggregate_id, self.report_id,
        )  # fmt: skip
        if row is None:
            return None, Position()
        report = None if row["report"] is None else ReportState.model_validate_json(row["report"])
        project = ProjectState.model_validate_json(row["state"])
        return ProjectReport(project, report), Position(row["version"], row["last_seq"], row["last_hash"])
