"""What scheduling knows of supervision orders (督办), folded from issue_coordination's events in the log (services
never import each other), and how an open order colours a project's issue dimension. Pure.

Only the fields scheduling shows are kept; an order event this fold does not know changes nothing (the owner may
add steps without breaking scheduling's read model). An order about an issue carries the issue's project (the owner
records it when the order is issued), so one project column finds the orders on a project and on its issues.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from pydantic import BaseModel

from shared.catalogue import CATALOGUE
from shared.catalogue.issue_coordination import (
    RectificationPlanReviewed,
    RectificationPlanSubmitted,
    SupervisionOrderClosed,
    SupervisionOrderIssued,
)
from shared.catalogue.scheduling import Colour, DimensionLight, Rules
from shared.clock import CHINA
from shared.envelope import Envelope

CLOSED = "closed"
# issue_coordination's statuses (services/issue_coordination/supervision.py OrderStatus), as its events imply them.
STATUS_LABELS = {"issued": "待报整改方案", "plan_submitted": "整改方案待审", "rectifying": "整改中", CLOSED: "已办结"}
COLOUR_RANK = {Colour.GREEN: 0, Colour.YELLOW: 1, Colour.RED: 2}


class KnownOrder(BaseModel):
    id: str
    project_id: str | None
    issue_id: str | None = None
    programme_id: str | None = None
    target_unit_id: str
    subject: str
    deadline: datetime
    status: str
    last_changed_at: datetime

    @property
    def open(self) -> bool:
        return self.status != CLOSED


def _reviewed(p: RectificationPlanReviewed) -> dict[str, Any]:
    return {"status": "rectifying" if p.accepted else "issued"}


CHANGES: dict[type[BaseModel], Callable[[Any], dict[str, Any]]] = {
    RectificationPlanSubmitted: lambda p: {"status": "plan_submitted"},
    RectificationPlanReviewed: _reviewed,
    SupervisionOrderClosed: lambda p: {"status": CLOSED},
}


def step(state: KnownOrder | None, order_id: str, recorded_at: datetime, payload: BaseModel) -> KnownOrder:
    """One event of the order applied: the live fold and the fold as known at a moment (a light of an earlier day)
    share it."""
    if state is None:
        if not isinstance(payload, SupervisionOrderIssued):
            raise ValueError(f"a supervision order cannot begin with {type(payload).__name__}")
        return KnownOrder(
            id=order_id, project_id=payload.project_id, issue_id=payload.issue_id,
            programme_id=payload.programme_id, target_unit_id=payload.target_unit_id, subject=payload.subject,
            deadline=payload.deadline, status="issued", last_changed_at=recorded_at,
        )  # fmt: skip
    change = CHANGES.get(type(payload))
    update = change(payload) if change is not None else {}
    return state.model_copy(update={**update, "last_changed_at": recorded_at})


def evolve_known_order(state: KnownOrder | None, envelope: Envelope, payload: BaseModel | None = None) -> KnownOrder:
    if payload is None:
        payload = CATALOGUE.load_payload(envelope.type, envelope.schema_version, envelope.payload)
    return step(state, envelope.aggregate_id, envelope.recorded_at, payload)


def moment(at: datetime) -> str:
    return at.astimezone(CHINA).strftime("%Y-%m-%d %H:%M")


def order_reason(order: KnownOrder, at: datetime) -> str:
    """The order named in a light's reasons: subject, id, status and deadline (overdue at the moment judged)."""
    late = ",已逾期" if order.deadline < at else ""
    return (
        f"督办单「{order.subject}」({order.id}){STATUS_LABELS.get(order.status, order.status)},尚未办结,"
        f"办结期限 {moment(order.deadline)}{late}"
    )


def with_open_orders(issues: DimensionLight, orders: list[KnownOrder], rules: Rules, at: datetime) -> DimensionLight:
    """Each open order on the project colours the issue dimension as the rule version says and is named in it."""
    colour, reasons = issues.colour, list(issues.reasons)
    for order in sorted((o for o in orders if o.open), key=lambda o: (o.deadline, o.id)):
        colour = max(colour, rules.supervision_order_open_colour, key=COLOUR_RANK.__getitem__)
        reasons.append(order_reason(order, at))
    return DimensionLight(colour=colour, reasons=reasons)
