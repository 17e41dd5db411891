"""Progress reports as they were known at a moment (reports dated D, docs/adr/0017).

The `progress` table holds each report's latest figure and review status. A report of an earlier date must see the
figure and status recorded by then, so every report, correction (更正) and review (审核通过/退回) also appends a row
to `report_revisions` with its record time. A report recorded after the moment is left out; its figure and status
are those of its last revision recorded by then. A report folded before revisions were kept has none: its row in
`progress` stands for itself (a rebuild of the read model fills the revisions in).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import asyncpg
from pydantic import BaseModel

from shared.aggregate_table import insert_rows
from shared.eventstore import StoredEvent
from shared.verification import payload_as

# Event type -> (the investment it states, or None; the report's review status after it).
REVISIONS: dict[str, Any] = {
    "ProgressReported": lambda p: (p.investment_this_period, "pending" if p.awaiting_review else "accepted"),
    "ProgressReportCorrected": lambda p: (p.investment_this_period, "pending"),
    "ProgressReportAccepted": lambda _: (None, "accepted"),
    "ProgressReportReturned": lambda _: (None, "returned"),
}
COLUMNS = {
    "seq": "bigint", "report_id": "text", "investment": "numeric", "status": "text", "recorded_at": "timestamptz"
}  # fmt: skip

DDL = """
CREATE TABLE IF NOT EXISTS {s}.report_revisions (
    seq bigint PRIMARY KEY, report_id text NOT NULL, investment numeric, status text NOT NULL,
    recorded_at timestamptz NOT NULL);
CREATE INDEX IF NOT EXISTS report_revisions_report ON {s}.report_revisions (report_id, seq);
"""


async def append_revisions(conn: asyncpg.Connection, schema: str, events: Sequence[StoredEvent]) -> None:
    rows = []
    for event in events:
        if (revision := REVISIONS.get(event.envelope.type)) is not None:
            p = payload_as(event, BaseModel)
            investment, status = revision(p)
            report_id = p.report_id  # type: ignore[attr-defined]
            rows.append((event.seq, report_id, investment, status, event.envelope.recorded_at))
    await insert_rows(conn, f"{schema}.report_revisions", COLUMNS, rows)


@dataclass(frozen=True)
class KnownReport:
    project_id: str
    period_start: date
    period_end: date
    investment: Decimal  # as counted then: 0 while it stood returned (退回), see queries.COUNTED_INVESTMENT
    milestones_done: int
    recorded_at: datetime


async def progress_as_known(
    conn: asyncpg.Connection, schema: str, project_ids: list[str], known_at: datetime, period_end_by: date = date.max
) -> list[KnownReport]:
    """The reports of `project_ids` recorded by `known_at` with periods ending by `period_end_by`, by period end."""
    rows = await conn.fetch(
        "SELECT p.project_id, p.period_start, p.period_end, jsonb_array_length(p.milestones_done) AS milestones,"
        " p.recorded_at, coalesce(v.status, p.status) AS status, coalesce(v.investment, p.investment) AS investment"
        f" FROM {schema}.progress p LEFT JOIN LATERAL ("
        f"   SELECT (SELECT r.status FROM {schema}.report_revisions r WHERE r.report_id = p.report_id"
        "            AND r.recorded_at <= $2 ORDER BY r.seq DESC LIMIT 1) AS status,"
        f"          (SELECT r.investment FROM {schema}.report_revisions r WHERE r.report_id = p.report_id"
        "            AND r.recorded_at <= $2 AND r.investment IS NOT NULL ORDER BY r.seq DESC LIMIT 1) AS investment"
        " ) v ON true"
        " WHERE p.project_id = ANY($1) AND p.recorded_at <= $2 AND p.period_end <= $3 ORDER BY p.period_end, p.seq",
        project_ids, known_at, period_end_by,
    )  # fmt: skip
    return [
        KnownReport(
            r["project_id"], r["period_start"], r["period_end"],
            Decimal(0) if r["status"] == "returned" else r["investment"], r["milestones"], r["recorded_at"],
        )
        for r in rows
    ]  # fmt: skip
