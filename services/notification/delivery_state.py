"""One notification's delivery, free of I/O: its state folded from the inbox's events that name it, and the
decisions the delivery engine appends (an attempt, delivered, failed, a resend, held for a digest).

Every decision is taken again on the state the append is guarded by (the inbox's expected sequence), and each event's
id derives from the notification and its place (attempt n, round r): a second holder, a restart after a crash or a
redelivery finds it recorded and appends nothing. The idempotency key receivers drop duplicates by is the
notification's id, the same on every attempt, every round and every resend.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from services.notification.retry_policy import AttemptRecord, Outcome
from shared.catalogue.notification import (
    Channel,
    DeliveryAttempted,
    DeliveryFailed,
    NotificationDelivered,
    NotificationRequested,
)
from shared.catalogue.notification_delivery import DeliveryResendRequested, NotificationDigested
from shared.domain_errors import conflict, not_found
from shared.envelope import Envelope

DELIVERY_NAMESPACE = uuid.UUID("6a1d3f0e-92b4-4c57-8e1a-d4c07b9f2e61")


def delivery_event_id(notification_id: str, what: str) -> uuid.UUID:
    """The one id of a delivery step: `attempt-3`, `delivered-1`, `failed-2`, `digest`."""
    return uuid.uuid5(DELIVERY_NAMESPACE, f"{notification_id}|{what}")


class AttemptFact(BaseModel):
    attempt: int
    round: int
    channel: Channel
    contact_point_id: str | None = None
    ok: bool
    permanent: bool
    at: datetime
    next_attempt_at: datetime | None = None

    @property
    def target(self) -> str:
        """The link of the fallback chain it tried (delivery_targets.Target.name)."""
        return f"{self.channel.value}:{self.contact_point_id or ''}"

    @property
    def record(self) -> AttemptRecord:
        outcome = Outcome.DELIVERED if self.ok else Outcome.PERMANENT if self.permanent else Outcome.RETRYABLE
        return AttemptRecord(self.target, outcome)


class DeliveryState(BaseModel):
    notification_id: str
    org_id: str
    urgency: str
    title: str
    body: str
    source_event_type: str
    person: str | None = None
    link_kind: str | None = None
    link_id: str | None = None
    project_id: str | None = None
    requested_at: datetime
    # What caused it, carried by every step of its delivery (one trace from the source event to the receiver).
    correlation_id: str = ""
    request_event_id: str = ""
    trace_context: dict[str, str] = Field(default_factory=dict)  # the request's append span: deliveries' parent
    round: int = 1
    attempts: list[AttemptFact] = Field(default_factory=list)
    delivered_round: int | None = None
    failed_round: int | None = None
    failed_reason: str | None = None
    digest: str | None = None  # held for the daily or weekly digest instead of going out alone
    digested_in: str | None = None  # the digest notification that carried it
    is_digest: bool = False  # a digest itself: it goes out alone, whatever the recipient's digest choice

    @property
    def key(self) -> str:
        """What receivers drop duplicates by (a webhook's `webhook-id`, an e-mail's Message-ID)."""
        return self.notification_id

    @property
    def finished(self) -> bool:
        """Nothing more to do in this round: delivered, dead, or waiting for its digest."""
        return self.round in (self.delivered_round, self.failed_round) or self.digest is not None

    @property
    def this_round(self) -> list[AttemptFact]:
        return [a for a in self.attempts if a.round == self.round]

    @property
    def next_attempt_no(self) -> int:
        return len(self.attempts) + 1


def _requested(state: DeliveryState | None, env: Envelope, p: NotificationRequested) -> DeliveryState:
    if state is not None:
        return state
    link = p.link
    return DeliveryState(
        notification_id=p.notification_id, org_id=env.aggregate_id, urgency=p.urgency.value, title=p.title,
        body=p.body, source_event_type=p.source_event_type, person=p.person,
        link_kind=link.kind.value if link else None, link_id=link.id if link else None,
        project_id=link.project_id if link else None, requested_at=env.recorded_at, is_digest=bool(p.digest_of),
        correlation_id=env.correlation_id, request_event_id=str(env.id), trace_context=dict(env.trace_context),
    )  # fmt: skip


def _attempted(state: DeliveryState | None, env: Envelope, p: DeliveryAttempted) -> DeliveryState | None:
    if state is None:
        return None
    fact = AttemptFact(
        attempt=p.attempt, round=state.round, channel=p.channel, contact_point_id=p.contact_point_id,
        ok=p.outcome.value == "ok", permanent=p.permanent,
        at=env.recorded_at, next_attempt_at=p.next_attempt_at,
    )  # fmt: skip
    return state.model_copy(update={"attempts": [*state.attempts, fact]})


def _delivered(state: DeliveryState | None, env: Envelope, p: NotificationDelivered) -> DeliveryState | None:
    return None if state is None else state.model_copy(update={"delivered_round": state.round})


def _failed(state: DeliveryState | None, env: Envelope, p: DeliveryFailed) -> DeliveryState | None:
    return None if state is None else state.model_copy(update={"failed_round": state.round, "failed_reason": p.reason})


def _resend(state: DeliveryState | None, env: Envelope, p: DeliveryResendRequested) -> DeliveryState | None:
    return None if state is None else state.model_copy(update={"round": p.round, "digest": None})


def _digested(state: DeliveryState | None, env: Envelope, p: NotificationDigested) -> DeliveryState | None:
    return None if state is None else state.model_copy(update={"digest": p.digest.value})


APPLIERS: Mapping[str, Callable[[DeliveryState | None, Envelope, Any], DeliveryState | None]] = {
    "NotificationRequested": _requested,
    "DeliveryAttempted": _attempted,
    "NotificationDelivered": _delivered,
    "DeliveryFailed": _failed,
    "DeliveryResendRequested": _resend,
    "NotificationDigested": _digested,
}


def evolve_delivery(
    notification_id: str, state: DeliveryState | None, env: Envelope, payload: BaseModel | None
) -> DeliveryState | None:
    """Fold one inbox event into the delivery of `notification_id` (events about other notifications pass by)."""
    if isinstance(payload, NotificationRequested) and notification_id in payload.digest_of:
        return None if state is None else state.model_copy(update={"digested_in": payload.notification_id})
    applier = APPLIERS.get(env.type)
    if applier is None or getattr(payload, "notification_id", None) != notification_id:
        return state
    return applier(state, env, payload)


def named_in(payload: BaseModel) -> list[str]:
    """The notifications an inbox event changes the delivery of (a digest: those it gathers, too)."""
    own = [str(payload.notification_id)] if hasattr(payload, "notification_id") else []
    return own + (payload.digest_of if isinstance(payload, NotificationRequested) else [])


# -- decisions -------------------------------------------------------------------------------------------------------


def decide_attempt(state: DeliveryState | None, attempt: DeliveryAttempted) -> DeliveryAttempted | None:
    """Record attempt n once: a holder that finds it recorded (it sent the same attempt) has nothing to add."""
    if state is None or state.finished or attempt.attempt != state.next_attempt_no:
        return None
    return attempt


def decide_delivered(state: DeliveryState | None, channel: Channel) -> NotificationDelivered | None:
    if state is None or state.finished:
        return None
    return NotificationDelivered(
        notification_id=state.notification_id, channel=channel, attempts=max(len(state.this_round), 1)
    )


def decide_failed(state: DeliveryState | None, reason: str) -> DeliveryFailed | None:
    if state is None or state.finished:
        return None
    last = state.this_round[-1].channel if state.this_round else Channel.INBOX
    return DeliveryFailed(
        notification_id=state.notification_id, channel=last, attempts=max(len(state.this_round), 1), reason=reason
    )


def decide_hold_for_digest(state: DeliveryState | None, held: NotificationDigested) -> BaseModel | None:
    if state is None or state.finished or state.this_round:
        return None  # a notification already on its way is not pulled back into a digest
    return held


def decide_resend(state: DeliveryState | None, requested_by: str, note: str) -> DeliveryResendRequested:
    """Only a dead letter is resent (a delivered or pending notification is not): a new round, the same key."""
    if state is None:
        raise not_found("notification_id", "没有该通知")
    if state.failed_round != state.round:
        raise conflict("notification_id", "只能重发投递失败(死信)的通知")
    return DeliveryResendRequested(
        notification_id=state.notification_id, round=state.round + 1, requested_by=requested_by, note=note
    )
