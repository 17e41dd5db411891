"""Supervision orders (督办), free of I/O: the state folded from an order's events and the decisions on its
commands. Who may act is supervision_policies.py's; a command the status does not allow is 409 naming the status.

Lifecycle: issued (待报整改方案) -> plan submitted (整改方案待审) -> plan accepted (整改中) -> closed (已办结);
a returned plan goes back to `issued`. Reminders (催办) are recorded in any open status.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, Field

from services.issue_coordination.domain_common import evolve, notice_key, status_conflict
from shared.catalogue.intake import AttachmentRef
from shared.catalogue.issue_coordination import (
    DeadlineSource,
    RectificationPlanReviewed,
    RectificationPlanSubmitted,
    SupervisionOrderClosed,
    SupervisionOrderDeadlineNeared,
    SupervisionOrderIssued,
    SupervisionOrderReminded,
)
from shared.domain_errors import Conflict, NotFound
from shared.envelope import Envelope


class OrderStatus(StrEnum):
    ISSUED = "issued"  # 已下达,待报整改方案
    PLAN_SUBMITTED = "plan_submitted"  # 整改方案待审
    RECTIFYING = "rectifying"  # 整改方案已认可,整改中
    CLOSED = "closed"  # 已办结销号


ORDER_STATUS_LABELS = {
    OrderStatus.ISSUED: "待报整改方案", OrderStatus.PLAN_SUBMITTED: "整改方案待审", OrderStatus.RECTIFYING: "整改中",
    OrderStatus.CLOSED: "已办结",
}  # fmt: skip
OPEN_ORDER = frozenset({OrderStatus.ISSUED, OrderStatus.PLAN_SUBMITTED, OrderStatus.RECTIFYING})


class Plan(BaseModel):
    plan_id: str
    text: str
    attachments: list[AttachmentRef] = Field(default_factory=list)
    submitted_at: datetime
    accepted: bool | None = None  # None: not yet reviewed
    review_reason: str = ""


class OrderState(BaseModel):
    id: str
    issued_by: str
    issued_at: datetime
    target_unit_id: str
    issue_id: str | None = None
    project_id: str | None = None
    programme_id: str | None = None
    subject: str
    requirement: str
    deadline: datetime
    deadline_source: DeadlineSource
    rule_version: int | None = None
    calendar_version: int | None = None
    reminder_every_days: int  # the cadence in force when issued (each run uses the rules in force on its day)
    status: OrderStatus
    plan: Plan | None = None
    plans_returned: int = 0
    reminders: int = 0
    reminder_periods: list[int] = Field(default_factory=list)  # the timer's periods already reminded
    last_due_at: datetime | None = None  # when the timer's last reminder came due (the next is a cadence later)
    last_reminded_at: datetime | None = None
    deadline_notices: list[str] = Field(default_factory=list)  # deadline-near notices given (deadline|working days)
    closed_at: datetime | None = None
    conclusion: str | None = None
    last_changed_at: datetime

    def overdue(self, now: datetime) -> bool:
        return self.status in OPEN_ORDER and self.deadline < now

    def closed_on_time(self) -> bool:
        return self.closed_at is not None and self.closed_at <= self.deadline


# -- ids derived from the order, so that a replica, a restart or a retry targets the same event ------------------

REMINDER_NAMESPACE = uuid.UUID("8a1e5c2b-7d4f-4b3a-9e6c-1f2d3b4a5c6e")


def reminder_event_id(order_id: str, period: int) -> uuid.UUID:
    return uuid.uuid5(REMINDER_NAMESPACE, f"{order_id}|{period}")


def next_reminder_due(order: OrderState, cadence_days: int) -> datetime:
    """When the timer's next reminder comes due: `cadence_days` calendar days after the last one came due (or after
    the order was issued). Anchored on when each came due, not on when a run noticed, so a run that catches up on
    several days, a second replica or a re-run all find the same moment."""
    return (order.last_due_at or order.issued_at) + timedelta(days=max(cadence_days, 1))


def due_reminder(order: OrderState, now: datetime, cadence_days: int) -> tuple[int, datetime] | None:
    """The timer's next reminder period (numbered 0, 1, ... in order) and when it came due, if it has by `now` on
    the cadence of the rules in force that day; None when not yet due or the order is closed. One per run: a run
    long after several were due records one, the next run the next."""
    if order.status not in OPEN_ORDER:
        return None
    due = next_reminder_due(order, cadence_days)
    if now < due:
        return None
    return max(order.reminder_periods, default=-1) + 1, due


# -- evolve ------------------------------------------------------------------------------------------------------

Change = Callable[[OrderState, Any, Envelope], dict[str, object]]


def _plan_submitted(s: OrderState, p: RectificationPlanSubmitted, env: Envelope) -> dict[str, object]:
    plan = Plan(plan_id=p.plan_id, text=p.text, attachments=p.attachments, submitted_at=env.recorded_at)
    return {"status": OrderStatus.PLAN_SUBMITTED, "plan": plan}


def _plan_reviewed(s: OrderState, p: RectificationPlanReviewed, env: Envelope) -> dict[str, object]:
    plan = s.plan.model_copy(update={"accepted": p.accepted, "review_reason": p.reason}) if s.plan else None
    if p.accepted:
        return {"status": OrderStatus.RECTIFYING, "plan": plan}
    return {"status": OrderStatus.ISSUED, "plan": plan, "plans_returned": s.plans_returned + 1}


def _reminded(s: OrderState, p: SupervisionOrderReminded, env: Envelope) -> dict[str, object]:
    update: dict[str, object] = {"reminders": s.reminders + 1, "last_reminded_at": env.recorded_at}
    if p.period is not None:  # the timer's: the next one is due a cadence after this one came due
        # Events from before `due_at` was recorded came due on the fixed cadence the order recorded at issue.
        due = p.due_at or s.issued_at + timedelta(days=(p.period + 1) * max(s.reminder_every_days, 1))
        update |= {"reminder_periods": [*s.reminder_periods, p.period], "last_due_at": due}
    return update


CHANGES: Mapping[type[BaseModel], Change] = {
    RectificationPlanSubmitted: _plan_submitted,
    RectificationPlanReviewed: _plan_reviewed,
    SupervisionOrderReminded: _reminded,
    SupervisionOrderDeadlineNeared: lambda s, p, env: {
        "deadline_notices": [*s.deadline_notices, notice_key(p.deadline, p.working_days_left)]
    },
    SupervisionOrderClosed: lambda s, p, env: {
        "status": OrderStatus.CLOSED, "closed_at": env.recorded_at, "conclusion": p.conclusion
    },
}  # fmt: skip


def _issued(envelope: Envelope, payload: BaseModel) -> OrderState:
    if not isinstance(payload, SupervisionOrderIssued):
        raise ValueError(f"{envelope.type} before the order's issue for {envelope.aggregate_id}")
    at, fields = envelope.recorded_at, payload.model_dump(exclude={"deadline_since"})
    return OrderState(id=envelope.aggregate_id, issued_by=envelope.actor.org_id, issued_at=at,
                      status=OrderStatus.ISSUED, last_changed_at=at, **fields)  # fmt: skip


def evolve_order(state: OrderState | None, envelope: Envelope, payload: BaseModel | None = None) -> OrderState:
    return evolve(state, envelope, payload, _issued, CHANGES, "supervision order")


# -- decisions ---------------------------------------------------------------------------------------------------


def must_exist(state: OrderState | None) -> OrderState:
    if state is None:
        raise NotFound("督办单不存在", field="order_id", reason="督办单不存在")
    return state


def bad_status(order: OrderState, what: str) -> Conflict:
    return status_conflict("督办单", ORDER_STATUS_LABELS[order.status], order.status.value, what)


def decide_issue(state: OrderState | None, event: SupervisionOrderIssued) -> SupervisionOrderIssued | None:
    """A new order under a fresh id; a retried issue (same Idempotency-Key, same id) finds it: nothing to do."""
    return event if state is None else None


def decide_submit_plan(state: OrderState | None, event: RectificationPlanSubmitted) -> RectificationPlanSubmitted:
    order = must_exist(state)
    if order.status != OrderStatus.ISSUED:
        raise bad_status(order, "报送整改方案(已报送待审、已认可或已办结)")
    return event


def decide_review_plan(state: OrderState | None, accepted: bool, reason: str) -> RectificationPlanReviewed:
    order = must_exist(state)
    if order.status != OrderStatus.PLAN_SUBMITTED or order.plan is None:
        raise bad_status(order, "审核整改方案(没有待审的整改方案)")
    return RectificationPlanReviewed(plan_id=order.plan.plan_id, accepted=accepted, reason=reason)


def decide_remind(state: OrderState | None, text: str) -> SupervisionOrderReminded:
    order = must_exist(state)
    if order.status not in OPEN_ORDER:
        raise bad_status(order, "催办")
    return SupervisionOrderReminded(text=text, manual=True)


def decide_timer_reminder(
    state: OrderState | None, now: datetime, cadence_days: int
) -> SupervisionOrderReminded | None:
    """The timer's reminder due at `now` on `cadence_days`, or nothing (closed, not yet due, already reminded)."""
    order = must_exist(state)
    due = due_reminder(order, now, cadence_days)
    if due is None:
        return None
    period, due_at = due
    text = f"督办事项“{order.subject}”尚未办结,请抓紧整改落实"
    return SupervisionOrderReminded(text=text, period=period, due_at=due_at)


def decide_close(state: OrderState | None, conclusion: str) -> SupervisionOrderClosed:
    """Closure needs an accepted rectification plan: 409 naming the status (and the missing plan) otherwise."""
    order = must_exist(state)
    if order.status == OrderStatus.CLOSED:
        raise bad_status(order, "重复办结")
    if order.status != OrderStatus.RECTIFYING:
        missing = "尚未报送整改方案" if order.plan is None else "整改方案尚未认可"
        raise Conflict(
            f"督办单当前状态为“{ORDER_STATUS_LABELS[order.status]}”({order.status.value}),{missing},不能办结",
            field="rectification_plan", reason=missing, current_status=order.status.value,
        )  # fmt: skip
    return SupervisionOrderClosed(conclusion=conclusion)
