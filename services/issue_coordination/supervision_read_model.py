"""Supervision orders' read model: the order table (state + filter columns; commands load their state from it) and
the orders' timeline, one row per event. A part of issue_coordination's composite read model (bootstrap.py)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import asyncpg

from services.issue_coordination.supervision import OrderState, evolve_order
from shared.aggregate_table import AggregateTable, RowTable, envelope_fold
from shared.catalogue import CATALOGUE
from shared.ddl import lock_free_when_done
from shared.eventstore import StoredEvent

ORDERS = AggregateTable(
    "supervision_orders", "supervision_order", OrderState, envelope_fold(evolve_order),
    {
        "target_unit_id": ("text", lambda s: s.target_unit_id), "issue_id": ("text", lambda s: s.issue_id),
        "project_id": ("text", lambda s: s.project_id), "status": ("text", lambda s: s.status.value),
        "deadline": ("timestamptz", lambda s: s.deadline), "issued_at": ("timestamptz", lambda s: s.issued_at),
    },
)  # fmt: skip


def _timeline_row(event: StoredEvent) -> tuple[Any, ...]:
    env = event.envelope
    return (event.seq, env.aggregate_id, env.type, env.recorded_at, env.actor.org_id, env.actor.role.value,
            CATALOGUE.payload_of(event).model_dump_json())  # fmt: skip


ORDER_EVENTS = [n for n in CATALOGUE.names() if CATALOGUE.entry(n).aggregate_type == "supervision_order"]
TIMELINE_COLUMNS = {"seq": "bigint", "order_id": "text", "type": "text", "recorded_at": "timestamptz",
                    "actor_org_id": "text", "actor_role": "text", "payload": "jsonb"}  # fmt: skip
ORDER_TIMELINE = RowTable("supervision_order_timeline", TIMELINE_COLUMNS, {n: _timeline_row for n in ORDER_EVENTS})

INDEXES = """
CREATE INDEX IF NOT EXISTS supervision_orders_target ON {s}.supervision_orders (target_unit_id, issued_at);
CREATE INDEX IF NOT EXISTS supervision_orders_project ON {s}.supervision_orders (project_id);
CREATE INDEX IF NOT EXISTS supervision_orders_status_deadline ON {s}.supervision_orders (status, deadline);
CREATE INDEX IF NOT EXISTS supervision_order_timeline_order ON {s}.supervision_order_timeline (order_id, seq);
"""


class SupervisionReadModel:
    tables = (ORDERS.table, ORDER_TIMELINE.table)

    async def create_tables(self, conn: asyncpg.Connection, schema: str) -> None:
        ddl = ORDERS.ddl(schema) + ORDER_TIMELINE.ddl(schema) + INDEXES.format(s=schema)
        await conn.execute(lock_free_when_done(ddl))

    async def apply(self, conn: asyncpg.Connection, schema: str, events: Sequence[StoredEvent]) -> None:
        await ORDERS.apply(conn, schema, events)
        await ORDER_TIMELINE.apply(conn, schema, events)
