"""The supervision-order part of scheduling's read model: one row per 督办 order of issue_coordination's log
(domain_supervision.py), with the columns lights and the agenda filter on. It follows from the log like the rest of
the read model, so a rebuild gives the same rows."""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg

from services.scheduling.domain_supervision import CLOSED, KnownOrder, evolve_known_order
from shared.aggregate_table import AggregateTable, envelope_fold
from shared.ddl import lock_free_when_done
from shared.eventstore import StoredEvent

KNOWN_ORDERS = AggregateTable(
    "project_supervision_orders", "supervision_order", KnownOrder, envelope_fold(evolve_known_order),
    {"project_id": ("text", lambda s: s.project_id), "status": ("text", lambda s: s.status)},
)  # fmt: skip

INDEXES = """
CREATE INDEX IF NOT EXISTS project_supervision_orders_project ON {s}.project_supervision_orders (project_id, status);
"""


class KnownOrdersReadModel:
    tables = (KNOWN_ORDERS.table,)

    async def create_tables(self, conn: asyncpg.Connection, schema: str) -> None:
        await conn.execute(lock_free_when_done(KNOWN_ORDERS.ddl(schema) + INDEXES.format(s=schema)))

    async def apply(self, conn: asyncpg.Connection, schema: str, events: Sequence[StoredEvent]) -> None:
        await KNOWN_ORDERS.apply(conn, schema, events)


async def open_orders_of(
    conn: asyncpg.Connection, schema: str, project_ids: Sequence[str]
) -> dict[str, list[KnownOrder]]:
    """The open (not yet closed) orders on each project or on one of its issues."""
    rows = await conn.fetch(
        f"SELECT state FROM {schema}.project_supervision_orders WHERE project_id = ANY($1::text[])"
        " AND status <> $2 ORDER BY id",
        list(project_ids), CLOSED,
    )  # fmt: skip
    found: dict[str, list[KnownOrder]] = {}
    for row in rows:
        order = KnownOrder.model_validate_json(row["state"])
        assert order.project_id is not None
        found.setdefault(order.project_id, []).append(order)
    return found


async def project_of_order(conn: asyncpg.Connection, schema: str, order_id: str) -> str | None:
    project_id: str | None = await conn.fetchval(
        f"SELECT project_id FROM {schema}.project_supervision_orders WHERE id = $1", order_id
    )
    return project_id
