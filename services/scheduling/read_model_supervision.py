"""The supervision-order part of scheduling's read model: one row per 督办 order of issue_coordination's log
(domain_supervision.py), with the columns lights and the agenda filter on, and a ledger of every order event
(`supervision_order_steps`) from which a light of an earlier day folds an order as it was known then
(issue_dimension_as_known.py). It follows from the log like the rest of the read model, so a rebuild gives the same
rows."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import asyncpg

from services.scheduling.domain_supervision import KnownOrder, evolve_known_order
from shared.aggregate_table import AggregateTable, RowTable, envelope_fold
from shared.catalogue import CATALOGUE
from shared.ddl import lock_free_when_done
from shared.eventstore import StoredEvent

KNOWN_ORDERS = AggregateTable(
    "project_supervision_orders", "supervision_order", KnownOrder, envelope_fold(evolve_known_order),
    {"project_id": ("text", lambda s: s.project_id), "status": ("text", lambda s: s.status)},
)  # fmt: skip


def _step_row(event: StoredEvent) -> tuple[Any, ...]:
    env = event.envelope
    return event.seq, env.aggregate_id, env.type, env.recorded_at, CATALOGUE.payload_of(event).model_dump_json()


ORDER_EVENT_TYPES = [name for name in CATALOGUE.names() if CATALOGUE.entry(name).aggregate_type == "supervision_order"]
STEPS = RowTable(
    "supervision_order_steps",
    {"seq": "bigint", "order_id": "text", "type": "text", "recorded_at": "timestamptz", "payload": "jsonb"},
    dict.fromkeys(ORDER_EVENT_TYPES, _step_row),
)

INDEXES = """
CREATE INDEX IF NOT EXISTS project_supervision_orders_project ON {s}.project_supervision_orders (project_id, status);
CREATE INDEX IF NOT EXISTS supervision_order_steps_order ON {s}.supervision_order_steps (order_id, seq);
CREATE INDEX IF NOT EXISTS supervision_order_steps_recorded ON {s}.supervision_order_steps (recorded_at, order_id);
"""


class KnownOrdersReadModel:
    tables = (KNOWN_ORDERS.table, STEPS.table)

    async def create_tables(self, conn: asyncpg.Connection, schema: str) -> None:
        await conn.execute(lock_free_when_done(KNOWN_ORDERS.ddl(schema) + STEPS.ddl(schema) + INDEXES.format(s=schema)))

    async def apply(self, conn: asyncpg.Connection, schema: str, events: Sequence[StoredEvent]) -> None:
        await KNOWN_ORDERS.apply(conn, schema, events)
        await STEPS.apply(conn, schema, events)


async def project_of_order(conn: asyncpg.Connection, schema: str, order_id: str) -> str | None:
    project_id: str | None = await conn.fetchval(
        f"SELECT project_id FROM {schema}.project_supervision_orders WHERE id = $1", order_id
    )
    return project_id
