"""The issues part of scheduling's read model: one row per issue of issue_coordination's log (domain_issues.py),
with the columns lights, the agenda and the weekly report filter on."""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg

from services.scheduling.domain_issues import KnownIssue, evolve_known_issue
from shared.aggregate_table import AggregateTable, envelope_fold
from shared.ddl import lock_free_when_done
from shared.eventstore import StoredEvent

KNOWN_ISSUES = AggregateTable(
    "project_issues", "issue", KnownIssue, envelope_fold(evolve_known_issue),
    {
        "project_id": ("text", lambda s: s.project_id), "status": ("text", lambda s: s.status),
        "level": ("text", lambda s: s.level and s.level.value), "decision_id": ("text", lambda s: s.decision_id),
    },
)  # fmt: skip

INDEXES = """
CREATE INDEX IF NOT EXISTS project_issues_project ON {s}.project_issues (project_id, status);
CREATE INDEX IF NOT EXISTS project_issues_decision ON {s}.project_issues (decision_id);
"""


class KnownIssuesReadModel:
    tables = (KNOWN_ISSUES.table,)

    async def create_tables(self, conn: asyncpg.Connection, schema: str) -> None:
        await conn.execute(lock_free_when_done(KNOWN_ISSUES.ddl(schema) + INDEXES.format(s=schema)))

    async def apply(self, conn: asyncpg.Connection, schema: str, events: Sequence[StoredEvent]) -> None:
        await KNOWN_ISSUES.apply(conn, schema, events)


async def open_issues_of(
    conn: asyncpg.Connection, schema: str, project_ids: Sequence[str]
) -> dict[str, list[KnownIssue]]:
    """The open issues (assigned or accepted) of each project, oldest change first."""
    rows = await conn.fetch(
        f"SELECT state FROM {schema}.project_issues WHERE project_id = ANY($1::text[])"
        " AND status = ANY($2::text[]) ORDER BY id",
        list(project_ids), ["assigned", "accepted"],
    )  # fmt: skip
    found: dict[str, list[KnownIssue]] = {}
    for row in rows:
        issue = KnownIssue.model_validate_json(row["state"])
        assert issue.project_id is not None
        found.setdefault(issue.project_id, []).append(issue)
    return found


async def project_of_issue(conn: asyncpg.Connection, schema: str, issue_id: str) -> str | None:
    project_id: str | None = await conn.fetchval(f"SELECT project_id FROM {schema}.project_issues WHERE id = $1",
                                                 issue_id)  # fmt: skip
    return project_id
