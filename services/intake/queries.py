"""Every SQL read of intake's read model: what routes show, what handlers check, what commands load.

Each function takes `db`, a pool or a connection (both answer fetch/fetchrow/fetchval), and the schema.
"""

from __future__ import annotations

import json
from datetime import date, datetime
from typing import Any, TypeAlias

import asyncpg

from services.intake.domain import ProgrammeState, ProjectState
from services.intake.identity import OrganisationState
from services.intake.progress import PlanMilestone, ReportState
from shared.envelope import Role
from shared.eventstore import Position

Db: TypeAlias = "asyncpg.Pool | asyncpg.Connection"

# -- projects -----------------------------------------------------------------------------------------------


def project_public(state: ProjectState, version: int) -> dict[str, Any]:
    body = state.model_dump(mode="json")
    body["version"] = version
    return body


async def get_project(db: Db, schema: str, project_id: str) -> tuple[ProjectState, int] | None:
    row = await db.fetchrow(f"SELECT state, version FROM {schema}.projects WHERE id = $1", project_id)
    if row is None:
        return None
    return ProjectState.model_validate_json(row["state"]), int(row["version"])


async def filtered_page(
    db: Db, table: str, *, filters: dict[str, str | None], order_by: str, limit: int, offset: int
) -> tuple[list[asyncpg.Record], int]:
    """The `state, version` rows of `table` matching every given filter (column = value; None: no filter), one page
    in `order_by` order, and how many match in all: what every paged list of aggregate rows answers."""
    clauses, args = [], []
    for column, value in filters.items():
        if value is not None:
            args.append(value)
            clauses.append(f"{column} = ${len(args)}")
    where = ("WHERE " + " AND ".join(clauses)) if clauses else ""
    total = await db.fetchval(f"SELECT count(*) FROM {table} {where}", *args)
    rows = await db.fetch(
        f"SELECT state, version FROM {table} {where} ORDER BY {order_by}"
        f" LIMIT ${len(args) + 1} OFFSET ${len(args) + 2}",
        *args,
        limit,
        offset,
    )
    return rows, int(total)


async def list_projects(
    db: Db, schema: str, *, filters: dict[str, str | None], limit: int, offset: int
) -> tuple[list[dict[str, Any]], int]:
    rows, total = await filtered_page(
        db, f"{schema}.projects", filters=filters, order_by="registered_at, id", limit=limit, offset=offset
    )
    return [project_public(ProjectState.model_validate_json(r["state"]), r["version"]) for r in rows], total


async def project_with_code(db: Db, schema: str, code: str, year: int) -> str | None:
    """A project the read model shows with a national code in a programme year (a code is unique per year).

    Only a first answer for projects registered before codes were claimed: the claim (code_claims.py) decides."""
    holder: str | None = await db.fetchval(
        f"SELECT j.id FROM {schema}.projects j JOIN {schema}.programmes g ON g.id = j.programme_id"
        f" WHERE j.code = $1 AND g.year = $2 ORDER BY j.registered_at, j.id LIMIT 1",
        code,
        year,
    )
    return holder


async def list_progress_reports(db: Db, schema: str, project_id: str) -> list[dict[str, Any]]:
    """A project's reports by period: figures as they stand (the latest correction), review status, and the history
    of each (the original report, every correction with its reason, every review)."""
    rows = await db.fetch(
        f"SELECT r.state, r.last_seq, coalesce(jsonb_agg(jsonb_build_object('seq', h.seq, 'type', h.type, 'payload',"
        f" h.payload, 'actor', h.actor, 'recorded_at', h.recorded_at) ORDER BY h.seq) FILTER (WHERE h.seq IS NOT"
        f" NULL), '[]') AS history FROM {schema}.progress_reports r LEFT JOIN {schema}.progress_report_history h"
        f" ON h.report_id = r.report_id WHERE r.project_id = $1 GROUP BY r.report_id ORDER BY r.period_start",
        project_id,
    )
    out = []
    for r in rows:
        item = ReportState.model_validate_json(r["state"]).model_dump(mode="json")
        item["seq"] = r["last_seq"]
        item["history"] = json.loads(r["history"])
        out.append(item)
    return out


async def overlapping_report(db: Db, schema: str, project_id: str, start: date, end: date) -> str | None:
    """The first report of a project whose period shares a day with [start, end]."""
    found: str | None = await db.fetchval(
        f"SELECT report_id FROM {schema}.progress_reports WHERE project_id = $1 AND period_start <= $3"
        " AND period_end >= $2 ORDER BY period_start LIMIT 1",
        project_id, start, end,
    )  # fmt: skip
    return found


async def plan_milestones(db: Db, schema: str, project_id: str) -> dict[str, list[PlanMilestone]]:
    """The milestones of a project's plans by milestone id (one id may be in the plans of several years)."""
    rows = await db.fetch(
        f"SELECT plan_id, year, milestones FROM {schema}.plan_milestones WHERE project_id = $1", project_id
    )
    out: dict[str, list[PlanMilestone]] = {}
    for r in rows:
        for m in json.loads(r["milestones"]):
            out.setdefault(m["milestone_id"], []).append(PlanMilestone(r["plan_id"], r["year"], m["name"]))
    return out


# -- programmes ---------------------------------------------------------------------------------------------

PROGRAMME_SELECT = (
    "SELECT g.state, g.version, (SELECT count(*) FROM {s}.projects j WHERE j.programme_id = g.id) AS project_count"
    " FROM {s}.programmes g"
)


def _programme_public(row: asyncpg.Record) -> dict[str, Any]:
    body = ProgrammeState.model_validate_json(row["state"]).model_dump(mode="json")
    return {**body, "version": row["version"], "project_count": row["project_count"]}


async def get_programme(db: Db, schema: str, programme_id: str) -> dict[str, Any] | None:
    row = await db.fetchrow(PROGRAMME_SELECT.format(s=schema) + " WHERE g.id = $1", programme_id)
    return None if row is None else _programme_public(row)


async def programme_project_count(db: Db, schema: str, programme_id: str, recorded_by: datetime) -> int:
    """How many projects the programme held at a moment: those registered (record time) by then; a project never
    leaves its programme, so this is exact for any moment."""
    count = await db.fetchval(
        f"SELECT count(*) FROM {schema}.projects WHERE programme_id = $1 AND registered_at <= $2",
        programme_id, recorded_by,
    )  # fmt: skip
    return int(count)


async def list_programmes(db: Db, schema: str, *, limit: int, offset: int) -> tuple[list[dict[str, Any]], int]:
    """A page of the programmes, latest year first; and how many there are."""
    rows = await db.fetch(
        PROGRAMME_SELECT.format(s=schema) + " ORDER BY g.year DESC, g.id LIMIT $1 OFFSET $2", limit, offset
    )
    total = await db.fetchval(f"SELECT count(*) FROM {schema}.programmes")
    return [_programme_public(r) for r in rows], int(total)


async def programme_year(db: Db, schema: str, programme_id: str) -> int | None:
    """The year of a programme, None if there is no such programme (a programme's year never changes)."""
    year: int | None = await db.fetchval(f"SELECT year FROM {schema}.programmes WHERE id = $1", programme_id)
    return year


# -- organisations (identity tables, shared.auth.IdentityReadModel) -------------------------------------------


async def list_organisations(db: Db, schema: str, *, limit: int, offset: int) -> tuple[list[dict[str, Any]], int]:
    """A page of the organisations, by role then id; and how many there are."""
    rows = await db.fetch(
        f"SELECT id, name, role, demo, version FROM {schema}.organisations ORDER BY role, id LIMIT $1 OFFSET $2",
        limit,
        offset,
    )
    total = await db.fetchval(f"SELECT count(*) FROM {schema}.organisations")
    return [dict(r) for r in rows], int(total)


async def organisation_role(db: Db, schema: str, org_id: str) -> Role | None:
    role = await db.fetchval(f"SELECT role FROM {schema}.organisations WHERE id = $1", org_id)
    return None if role is None else Role(role)


async def load_organisation(db: Db, schema: str, org_id: str) -> tuple[OrganisationState | None, Position]:
    """An organisation as a command decides on it, and where it stands in the log."""
    row = await db.fetchrow(
        f"SELECT o.name, o.role, o.version, o.last_seq, o.last_hash, coalesce(jsonb_object_agg(c.credential_id,"
        f" c.revoked) FILTER (WHERE c.credential_id IS NOT NULL), '{{}}') AS credentials FROM {schema}.organisations o"
        f" LEFT JOIN {schema}.credentials c ON c.org_id = o.id WHERE o.id = $1 GROUP BY o.id",
        org_id,
    )
    if row is None:
        return None, Position()
    state = OrganisationState(
        id=org_id, name=row["name"], role=Role(row["role"]), credentials=json.loads(row["credentials"])
    )
    return state, Position(row["version"], row["last_seq"], row["last_hash"])
