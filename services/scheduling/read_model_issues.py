"""The issues part of scheduling's read model: one row per issue of issue_coordination's log (domain_issues.py),
with the columns lights and the agenda filter on, and a ledger of every issue event (`issue_steps`) from which the
weekly report folds an issue as it was known at the end of its date."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime

import asyncpg

from services.scheduling.domain_issues import KnownIssue, evolve_known_issue, step
from shared.aggregate_table import AggregateTable, envelope_fold
from shared.catalogue import CATALOGUE
from shared.event_ledger import LedgeredAggregate, event_ledger

KNOWN_ISSUES = AggregateTable(
    "project_issues", "issue", KnownIssue, envelope_fold(evolve_known_issue),
    {
        "project_id": ("text", lambda s: s.project_id), "status": ("text", lambda s: s.status),
        "level": ("text", lambda s: s.level and s.level.value), "decision_id": ("text", lambda s: s.decision_id),
    },
)  # fmt: skip


STEPS = event_ledger("issue_steps", "issue_id", "issue", with_actor=False)

INDEXES = """
CREATE INDEX IF NOT EXISTS project_issues_project ON {s}.project_issues (project_id, status);
CREATE INDEX IF NOT EXISTS project_issues_decision ON {s}.project_issues (decision_id);
CREATE INDEX IF NOT EXISTS issue_steps_issue ON {s}.issue_steps (issue_id, seq);
CREATE INDEX IF NOT EXISTS issue_steps_recorded ON {s}.issue_steps (recorded_at, issue_id);
"""


class KnownIssuesReadModel(LedgeredAggregate):
    def __init__(self) -> None:
        super().__init__(KNOWN_ISSUES, STEPS, INDEXES)


async def project_of_issue(conn: asyncpg.Connection, schema: str, issue_id: str) -> str | None:
    project_id: str | None = await conn.fetchval(f"SELECT project_id FROM {schema}.project_issues WHERE id = $1",
                                                 issue_id)  # fmt: skip
    return project_id


async def issues_as_known(
    conn: asyncpg.Connection, schema: str, issue_ids: Sequence[str], known_at: datetime
) -> dict[str, KnownIssue]:
    """Each issue folded from its events recorded before `known_at` (an issue not yet raised then is absent)."""
    rows = await conn.fetch(
        f"SELECT issue_id, type, recorded_at, payload FROM {schema}.issue_steps"
        " WHERE issue_id = ANY($1::text[]) AND recorded_at < $2 ORDER BY issue_id, seq",
        list(issue_ids), known_at,
    )  # fmt: skip
    known: dict[str, KnownIssue] = {}
    for r in rows:
        entry = CATALOGUE.entry(r["type"])
        payload = entry.model.model_validate(json.loads(r["payload"]))
        known[r["issue_id"]] = step(known.get(r["issue_id"]), r["issue_id"], r["recorded_at"], payload)
    return known
