"""Resending a dead letter: load -> authorize -> decide -> append, on the notification's delivery in its inbox."""

from __future__ import annotations

from services.notification import policies
from services.notification.delivery_state import decide_resend, delivery_event_id
from services.notification.queries_deliveries import delivery_row
from services.notification.read_model_deliveries import DeliverySpec
from shared.commands import CommandMeta, Outcome, execute
from shared.domain_errors import not_found
from shared.runtime import Runtime


async def resend(rt: Runtime, notification_id: str, note: str, meta: CommandMeta) -> Outcome:
    """hq only. The event id names the round the resend opens: a retried request (or a second hq user resending
    the same dead letter) appends one round, not two; the idempotency key the receivers see never changes."""
    policies.must_be_hq(meta.principal, "重发投递失败的通知")
    row = await delivery_row(rt.pool, rt.schema, notification_id)
    if row is None:
        raise not_found("notification_id", "没有该通知的投递记录")
    event_id = meta.event_id("resend") or delivery_event_id(notification_id, f"resend-{row.round + 1}")
    return await execute(
        pool=rt.pool, store=rt.store, schema=rt.schema, spec=DeliverySpec(notification_id), aggregate_id=row.org_id,
        decide=lambda state: decide_resend(state, meta.principal.org_id, note), context=meta.context,
        if_match=meta.if_match, event_id=event_id,
    )  # fmt: skip
