"""The weekly report's issues: 存在问题 (the projects' issues open at the end of the report's date) and the 落实状态 of
each decision of the last meeting from its tracked item (an issue of issue_coordination's log), both folded from the
issue events recorded by the end of that day (read_model_issues.issues_as_known), never from later ones."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime

import asyncpg

from services.scheduling.domain_issues import LEVEL_LABELS, OPEN, KnownIssue
from services.scheduling.read_model_issues import issues_as_known
from services.scheduling.weekly_report import IssueLine
from shared.catalogue.issue_coordination import CATEGORY_LABELS, IssueCategory
from shared.clock import CHINA

STATUS_LABELS = {"raised": "已提出待交办", "assigned": "已交办待受理", "accepted": "办理中",
                 "resolved": "已办结待确认", "confirmed": "已落实(提出方已确认)", "withdrawn": "已撤回"}  # fmt: skip


def _status(issue: KnownIssue, known_at: datetime) -> str:
    label = STATUS_LABELS.get(issue.status, issue.status)
    if issue.status in OPEN and issue.deadline is not None and issue.deadline < known_at:
        label += ",已超期"
    return label


def _deadline_day(issue: KnownIssue) -> date | None:
    return issue.deadline.astimezone(CHINA).date() if issue.deadline is not None else None


async def open_issues_as_known(
    conn: asyncpg.Connection, schema: str, projects: dict[str, str], names: dict[str, str], known_at: datetime
) -> list[IssueLine]:
    """Issues raised on `projects` (id -> name) still awaiting an answer at `known_at`: raised, assigned or
    accepted (resolved ones wait only for a confirmation), the highest level first."""
    ids = [r["id"] for r in await conn.fetch(
        f"SELECT id FROM {schema}.project_issues WHERE project_id = ANY($1::text[]) AND decision_id IS NULL",
        list(projects),
    )]  # fmt: skip
    known = await issues_as_known(conn, schema, ids, known_at)
    waiting = [i for i in known.values() if i.status in {"raised", *OPEN} and i.project_id in projects]
    waiting.sort(key=lambda i: (-(list(LEVEL_LABELS).index(i.level) if i.level else -1), i.id))
    return [
        IssueLine(
            projects[i.project_id or ""], i.id, i.summary,
            CATEGORY_LABELS.get(IssueCategory(i.category), i.category) if i.category else "",
            LEVEL_LABELS[i.level] if i.level else "待交办",
            names.get(i.lead_unit_id, i.lead_unit_id) if i.lead_unit_id else "", _deadline_day(i),
            _status(i, known_at),
        )
        for i in waiting
    ]  # fmt: skip


async def decision_statuses(
    conn: asyncpg.Connection, schema: str, decision_ids: Sequence[str], known_at: datetime
) -> dict[str, str]:
    """落实状态 of each decision whose tracked item was known by `known_at` (absent: not yet tracked then)."""
    rows = await conn.fetch(
        f"SELECT id, decision_id FROM {schema}.project_issues WHERE decision_id = ANY($1::text[])", list(decision_ids)
    )
    known = await issues_as_known(conn, schema, [r["id"] for r in rows], known_at)
    return {r["decision_id"]: _status(known[r["id"]], known_at) for r in rows if r["id"] in known}
