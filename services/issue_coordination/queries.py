"""SQL reads of issues: one issue, a filtered and paged list narrowed to what the caller may see, a timeline."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeAlias

import asyncpg

from services.issue_coordination.domain import OPEN, IssueState
from services.issue_coordination.policies import Visibility

Db: TypeAlias = "asyncpg.Pool | asyncpg.Connection"


async def get_issue(db: Db, schema: str, issue_id: str) -> tuple[IssueState, int] | None:
    row = await db.fetchrow(f"SELECT state, version FROM {schema}.issues WHERE id = $1", issue_id)
    if row is None:
        return None
    return IssueState.model_validate_json(row["state"]), int(row["version"])


@dataclass(frozen=True)
class IssueFilters:
    project_id: str | None = None
    unit_id: str | None = None  # handled by this unit: its lead or a co-handler
    status: str | None = None
    category: str | None = None
    level: str | None = None
    overdue: bool | None = None


class _Where:
    def __init__(self) -> None:
        self.clauses: list[str] = []
        self.args: list[Any] = []

    def arg(self, value: Any) -> str:
        self.args.append(value)
        return f"${len(self.args)}"

    def add(self, clause: str) -> None:
        self.clauses.append(clause)

    def sql(self) -> str:
        return ("WHERE " + " AND ".join(self.clauses)) if self.clauses else ""


def _where(schema: str, filters: IssueFilters, seen: Visibility, now: datetime) -> _Where:
    w = _Where()
    for column in ("project_id", "status", "category", "level"):
        value = getattr(filters, column)
        if value is not None:
            w.add(f"i.{column} = {w.arg(value)}")
    if filters.unit_id is not None:
        unit = w.arg(filters.unit_id)
        w.add(f"(i.lead_unit_id = {unit} OR i.co_handler_ids @> ARRAY[{unit}]::text[])")
    if filters.overdue is not None:
        overdue = f"(i.status = ANY({w.arg(sorted(OPEN))}::text[]) AND i.deadline < {w.arg(now)})"
        w.add(overdue if filters.overdue else f"NOT coalesce({overdue}, false)")
    if seen.org_id is not None:  # the same rule as policies.may_see
        org = w.arg(seen.org_id)
        own = (f"i.raised_by = {org} OR i.lead_unit_id = {org} OR i.co_handler_ids @> ARRAY[{org}]::text[]"
               f" OR i.escalated_to @> ARRAY[{org}]::text[]")  # fmt: skip
        if seen.project_column is not None:
            own += (f" OR i.project_id IN (SELECT id FROM {schema}.project_directory"
                    f" WHERE {seen.project_column} = {org})")  # fmt: skip
        w.add(f"({own})")
    return w


async def list_issues(
    db: Db, schema: str, filters: IssueFilters, seen: Visibility, now: datetime, *, limit: int, offset: int
) -> tuple[list[tuple[IssueState, int]], int]:
    """Issues matching every filter that the caller may see, oldest first (a queue is worked in order)."""
    w = _where(schema, filters, seen, now)
    total = await db.fetchval(f"SELECT count(*) FROM {schema}.issues i {w.sql()}", *w.args)
    rows = await db.fetch(
        f"SELECT i.state, i.version FROM {schema}.issues i {w.sql()} ORDER BY i.raised_at, i.id"
        f" LIMIT {w.arg(limit)} OFFSET {w.arg(offset)}",
        *w.args,
    )
    return [(IssueState.model_validate_json(r["state"]), int(r["version"])) for r in rows], int(total)


async def timeline(
    db: Db, schema: str, table: str, id_column: str, aggregate_id: str, *, limit: int, offset: int
) -> tuple[list[dict[str, Any]], int]:
    """An issue's or an order's events (its timeline `table`, keyed by `id_column`) in the order they were recorded."""
    where = f"FROM {schema}.{table} WHERE {id_column} = $1"
    total = await db.fetchval(f"SELECT count(*) {where}", aggregate_id)
    rows = await db.fetch(
        f"SELECT seq, type, recorded_at, actor_org_id, actor_role, payload {where} ORDER BY seq LIMIT $2 OFFSET $3",
        aggregate_id, limit, offset,
    )  # fmt: skip
    return [{**dict(r), "payload": json.loads(r["payload"])} for r in rows], int(total)


async def issue_of_decision(db: Db, schema: str, decision_id: str) -> str | None:
    found: str | None = await db.fetchval(f"SELECT id FROM {schema}.issues WHERE decision_id = $1", decision_id)
    return found


async def organisation_role(db: Db, schema: str, org_id: str) -> str | None:
    role: str | None = await db.fetchval(f"SELECT role FROM {schema}.organisations WHERE id = $1", org_id)
    return role
