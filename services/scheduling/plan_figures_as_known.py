"""A plan's figures as they were known at a moment: 年度计划投资 and the monthly plan behind 序时进度 of a report dated
D (docs/adr/0017).

The plan's read-model row holds its figures now. A draft is replaced as a whole by a revision (PlanRevised, before
its baseline), so a report of an earlier date must see the figures of the version recorded by then: the projection
appends each drafted and revised version to `plan_figures` with its record time. The figures in force at a moment
are those of the last version recorded by then; a plan whose draft was recorded later was not known then and is
left out (the report takes the project's own figures, as for a project without a plan). A plan folded before the
versions were kept has none, or only its later revisions: the figures it had before its first kept version are
not known, so until then it is taken as it is now (a rebuild of the read model fills the versions in).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

import asyncpg

from services.scheduling.domain import PlanState
from shared.aggregate_table import insert_rows
from shared.catalogue.scheduling import PlanContent, PlanDrafted, PlanRevised
from shared.eventstore import StoredEvent
from shared.verification import payload_as

VERSIONS: dict[str, type[PlanDrafted] | type[PlanRevised]] = {"PlanDrafted": PlanDrafted, "PlanRevised": PlanRevised}
COLUMNS = {
    "seq": "bigint", "plan_id": "text", "drafted": "boolean", "annual_target_investment": "numeric",
    "monthly_investment": "jsonb", "recorded_at": "timestamptz",
}  # fmt: skip

DDL = """
-- Each drafted and revised version of a plan's figures, with its record time (a report as known on D).
CREATE TABLE IF NOT EXISTS {s}.plan_figures (
    seq bigint PRIMARY KEY, plan_id text NOT NULL, drafted boolean NOT NULL, annual_target_investment numeric NOT NULL,
    monthly_investment jsonb NOT NULL, recorded_at timestamptz NOT NULL);
CREATE INDEX IF NOT EXISTS plan_figures_plan ON {s}.plan_figures (plan_id, seq);
"""


async def append_plan_figures(conn: asyncpg.Connection, schema: str, events: Sequence[StoredEvent]) -> None:
    rows = []
    for event in events:
        if (kind := VERSIONS.get(event.envelope.type)) is not None:
            p: PlanContent = payload_as(event, kind)
            monthly = json.dumps([str(m) for m in p.monthly_investment])
            rows.append((event.seq, event.envelope.aggregate_id, kind is PlanDrafted, p.annual_target_investment,
                         monthly, event.envelope.recorded_at))  # fmt: skip
    await insert_rows(conn, f"{schema}.plan_figures", COLUMNS, rows)


@dataclass(frozen=True)
class FiguresVersion:
    drafted: bool  # the plan's first version (PlanDrafted); else a revision
    annual_target_investment: Decimal
    monthly_investment: list[Decimal]
    recorded_at: datetime


def plan_in_force(plan: PlanState, versions: Sequence[FiguresVersion], known_at: datetime) -> PlanState | None:
    """`plan` with the figures of its version in force at `known_at` (`versions` in log order); None when its draft
    was recorded later. Without a version recorded by then and without its draft (folded before they were kept) it
    is taken as it is now."""
    known = [v for v in versions if v.recorded_at <= known_at]
    if known:
        update = {"annual_target_investment": known[-1].annual_target_investment,
                  "monthly_investment": known[-1].monthly_investment}  # fmt: skip
        return plan.model_copy(update=update)
    if any(v.drafted for v in versions):
        return None
    return plan


async def plans_as_known(
    conn: asyncpg.Connection, schema: str, plans: dict[str, PlanState], known_at: datetime
) -> dict[str, PlanState]:
    """Of `plans` (by project id), those known at `known_at`, each with the figures in force then."""
    rows = await conn.fetch(
        f"SELECT plan_id, drafted, annual_target_investment, monthly_investment, recorded_at FROM {schema}.plan_figures"
        " WHERE plan_id = ANY($1) ORDER BY seq",
        [plan.id for plan in plans.values()],
    )  # fmt: skip
    versions: dict[str, list[FiguresVersion]] = {}
    for r in rows:
        monthly = [Decimal(m) for m in json.loads(r["monthly_investment"])]
        versions.setdefault(r["plan_id"], []).append(
            FiguresVersion(r["drafted"], r["annual_target_investment"], monthly, r["recorded_at"])
        )
    out = {}
    for project_id, plan in plans.items():
        known = plan_in_force(plan, versions.get(plan.id, []), known_at)
        if known is not None:
            out[project_id] = known
    return out
