"""Reads straight from intake's read model."""

from __future__ import annotations

import json
from typing import Any

import asyncpg

from services.intake.domain import ProgrammeState, ProjectState


def project_public(state: ProjectState, version: int) -> dict[str, Any]:
    body = state.model_dump(mode="json")
    body["version"] = version
    return body


async def get_project(conn: asyncpg.Connection, schema: str, project_id: str) -> tuple[ProjectState, int] | None:
    row = await conn.fetchrow(f"SELECT state, version FROM {schema}.projects WHERE id = $1", project_id)
    if row is None:
        return None
    return ProjectState.model_validate_json(row["state"]), int(row["version"])


async def list_projects(
    conn: asyncpg.Connection,
    schema: str,
    *,
    filters: dict[str, str | None],
    limit: int,
    offset: int,
) -> tuple[list[dict[str, Any]], int]:
    clauses, args = [], []
    for column, value in filters.items():
        if value is not None:
            args.append(value)
            clauses.append(f"{column} = ${len(args)}")
    where = ("WHERE " + " AND ".join(clauses)) if clauses else ""
    total = await conn.fetchval(f"SELECT count(*) FROM {schema}.projects {where}", *args)
    rows = await conn.fetch(
        f"SELECT state, version FROM {schema}.projects {where} ORDER BY registered_at, id "
        f"LIMIT ${len(args) + 1} OFFSET ${len(args) + 2}",
        *args,
        limit,
        offset,
    )
    items = [project_public(ProjectState.model_validate_json(r["state"]), r["version"]) for r in rows]
    return items, int(total)


async def list_progress_reports(conn: asyncpg.Connection, schema: str, project_id: str) -> list[dict[str, Any]]:
    rows = await conn.fetch(
        f"SELECT report_id, project_version, seq, period_start, period_end, investment_this_period,"
        f" cumulative_investment, image_progress_pct, image_progress_text, milestones_done, reported_by,"
        f" recorded_at FROM {schema}.progress_reports WHERE project_id = $1 ORDER BY period_end, seq",
        project_id,
    )
    out = []
    for r in rows:
        item = dict(r)
        for key in ("investment_this_period", "cumulative_investment", "image_progress_pct"):
            item[key] = str(item[key])
        item["milestones_done"] = json.loads(item["milestones_done"])
        out.append(item)
    return out


PROGRAMME_SELECT = (
    "SELECT g.state, g.version, (SELECT count(*) FROM {s}.projects j WHERE j.programme_id = g.id) AS project_count"
    " FROM {s}.programmes g"
)


def _programme_public(row: asyncpg.Record) -> dict[str, Any]:
    body = ProgrammeState.model_validate_json(row["state"]).model_dump(mode="json")
    return {**body, "version": row["version"], "project_count": row["project_count"]}


async def get_programme(conn: asyncpg.Connection, schema: str, programme_id: str) -> dict[str, Any] | None:
    row = await conn.fetchrow(PROGRAMME_SELECT.format(s=schema) + " WHERE g.id = $1", programme_id)
    return None if row is None else _programme_public(row)


async def list_programmes(conn: asyncpg.Connection, schema: str) -> list[dict[str, Any]]:
    rows = await conn.fetch(PROGRAMME_SELECT.format(s=schema) + " ORDER BY g.year DESC, g.id")
    return [_programme_public(r) for r in rows]


async def list_organisations(conn: asyncpg.Connection, schema: str) -> list[dict[str, Any]]:
    rows = await conn.fetch(f"SELECT id, name, role, demo, version FROM {schema}.organisations ORDER BY role, id")
    return [dict(r) for r in rows]
