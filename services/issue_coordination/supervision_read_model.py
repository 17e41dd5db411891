"""Supervision orders' read model: the order table (state + filter columns; commands load their state from it) and
the orders' timeline, one row per event. A part of issue_coordination's composite read model (bootstrap.py)."""

from __future__ import annotations

from services.issue_coordination.supervision import OrderState, evolve_order
from shared.aggregate_table import AggregateTable, envelope_fold
from shared.event_ledger import LedgeredAggregate, event_ledger

ORDERS = AggregateTable(
    "supervision_orders", "supervision_order", OrderState, envelope_fold(evolve_order),
    {
        "target_unit_id": ("text", lambda s: s.target_unit_id), "issue_id": ("text", lambda s: s.issue_id),
        "project_id": ("text", lambda s: s.project_id), "status": ("text", lambda s: s.status.value),
        "deadline": ("timestamptz", lambda s: s.deadline), "issued_at": ("timestamptz", lambda s: s.issued_at),
    },
)  # fmt: skip


ORDER_TIMELINE = event_ledger("supervision_order_timeline", "order_id", "supervision_order", with_actor=True)

INDEXES = """
CREATE INDEX IF NOT EXISTS supervision_orders_target ON {s}.supervision_orders (target_unit_id, issued_at);
CREATE INDEX IF NOT EXISTS supervision_orders_project ON {s}.supervision_orders (project_id);
CREATE INDEX IF NOT EXISTS supervision_orders_status_deadline ON {s}.supervision_orders (status, deadline);
CREATE INDEX IF NOT EXISTS supervision_order_timeline_order ON {s}.supervision_order_timeline (order_id, seq);
"""


class SupervisionReadModel(LedgeredAggregate):
    def __init__(self) -> None:
        super().__init__(ORDERS, ORDER_TIMELINE, INDEXES)
