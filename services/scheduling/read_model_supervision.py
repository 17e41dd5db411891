"""The supervision-order part of scheduling's read model: one row per 督办 order of issue_coordination's log
(domain_supervision.py), with the columns lights and the agenda filter on, and a ledger of every order event
(`supervision_order_steps`) from which a light of an earlier day folds an order as it was known then
(issue_dimension_as_known.py). It follows from the log like the rest of the read model, so a rebuild gives the same
rows."""

from __future__ import annotations

import asyncpg

from services.scheduling.domain_supervision import KnownOrder, evolve_known_order
from shared.aggregate_table import AggregateTable, envelope_fold
from shared.event_ledger import LedgeredAggregate, event_ledger

KNOWN_ORDERS = AggregateTable(
    "project_supervision_orders", "supervision_order", KnownOrder, envelope_fold(evolve_known_order),
    {"project_id": ("text", lambda s: s.project_id), "status": ("text", lambda s: s.status)},
)  # fmt: skip


STEPS = event_ledger("supervision_order_steps", "order_id", "supervision_order", with_actor=False)

INDEXES = """
CREATE INDEX IF NOT EXISTS project_supervision_orders_project ON {s}.project_supervision_orders (project_id, status);
CREATE INDEX IF NOT EXISTS supervision_order_steps_order ON {s}.supervision_order_steps (order_id, seq);
CREATE INDEX IF NOT EXISTS supervision_order_steps_recorded ON {s}.supervision_order_steps (recorded_at, order_id);
"""


class KnownOrdersReadModel(LedgeredAggregate):
    def __init__(self) -> None:
        super().__init__(KNOWN_ORDERS, STEPS, INDEXES)


async def project_of_order(conn: asyncpg.Connection, schema: str, order_id: str) -> str | None:
    project_id: str | None = await conn.fetchval(
        f"SELECT project_id FROM {schema}.project_supervision_orders WHERE id = $1", order_id
    )
    return project_id
