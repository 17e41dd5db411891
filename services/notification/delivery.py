"""The delivery engine: what the sender of a partition does with one queued notification (load -> decide -> send ->
append), on the platform clock.

1. Load the notification's delivery (read_model_deliveries.DeliverySpec: its row plus the inbox's tail).
2. Its recipient (delivery_targets): the fallback chain of contact points for its urgency, quiet hours, digest.
3. Held for a digest (low urgency, the recipient's choice) -> NotificationDigested; inside quiet hours (not critical)
   -> due again when they end; otherwise the retry schedule (retry_policy) names the channel and the moment.
4. Send with the notification's id as the idempotency key, then record the attempt (DeliveryAttempted, id derived
   from the attempt's number) with the next attempt's time decided now, and the end when there is one
   (NotificationDelivered, or DeliveryFailed: a dead letter with the reason).

A crash between the send and its record sends the same attempt again with the same key; a second holder with a
stale view finds the attempt recorded (its id, and the inbox's expected sequence) and appends nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from pydantic import BaseModel

from services.notification.channels.common import Attempt, Message
from services.notification.channels.common import Outcome as ChannelOutcome
from services.notification.channels.common import Urgency as MessageUrgency
from services.notification.delivery_state import (
    DeliveryState,
    decide_attempt,
    decide_delivered,
    decide_failed,
    decide_hold_for_digest,
    delivery_event_id,
)
from services.notification.delivery_targets import Recipient, Resolve, Target
from services.notification.delivery_worker import QueueItem
from services.notification.quiet_hours import held_until
from services.notification.read_model_deliveries import DeliverySpec
from services.notification.retry_policy import (
    DEFAULT_SCHEDULE,
    AttemptRecord,
    NextStep,
    Outcome,
    RetrySchedule,
    next_step,
)
from shared.catalogue.notification import AttemptOutcome, Channel, DeliveryAttempted, Digest
from shared.catalogue.notification_delivery import NotificationDigested
from shared.commands import execute, load
from shared.envelope import Actor, Role
from shared.eventstore import Context
from shared.metrics import DELIVERIES
from shared.runtime import Runtime
from shared.telemetry import event_span

log = logging.getLogger("tiaodu.notification.delivery")

ENGINE = Actor(org_id="platform", role=Role.SYSTEM, user="notification:delivery")
DIGESTIBLE = frozenset({"info", "normal"})  # urgent and critical notifications always go out alone
MESSAGE_URGENCY = {"info": MessageUrgency.LOW, "normal": MessageUrgency.NORMAL, "urgent": MessageUrgency.HIGH,
                   "critical": MessageUrgency.CRITICAL}  # fmt: skip
OUTCOMES = {ChannelOutcome.DELIVERED: Outcome.DELIVERED, ChannelOutcome.RETRYABLE: Outcome.RETRYABLE,
            ChannelOutcome.PERMANENT: Outcome.PERMANENT}  # fmt: skip


class Sender(Protocol):
    async def send(self, message: Message, endpoint: Any, *, idempotency_key: str, now: datetime) -> Attempt: ...


# Told of every attempt between the peer's answer and its record (the fault tests stop the process exactly there).
AfterSend = Callable[[Attempt], Awaitable[None]]


def message_of(state: DeliveryState) -> Message:
    link = {"kind": state.link_kind, "id": state.link_id, "project_id": state.project_id} if state.link_kind else None
    return Message(
        title=state.title[:200], body=state.body[:8000],
        urgency=MESSAGE_URGENCY.get(state.urgency, MessageUrgency.NORMAL), topic=state.source_event_type,
        data={"notification_id": state.notification_id, "recipient": state.org_id, "person": state.person,
              "urgency": state.urgency, "link": link},
    )  # fmt: skip


@dataclass
class DeliveryEngine:
    resolve: Resolve
    senders: Mapping[Channel, Sender]
    schedule: RetrySchedule = DEFAULT_SCHEDULE
    after_send: AfterSend | None = None
    stats: dict[str, int] = field(default_factory=lambda: {"sent": 0, "delivered": 0, "failed": 0})

    async def __call__(self, rt: Runtime, item: QueueItem) -> datetime | None:
        """Work one queued notification; when to look at it again (None: nothing more to do in its round)."""
        spec = DeliverySpec(item.notification_id)
        state = (await load(rt.pool, rt.store, rt.schema, spec, item.inbox_id)).state
        if state is None or state.finished:
            return None
        now = rt.clock.now()
        recipient = await self.resolve(rt, state.org_id, state.person, state.urgency)
        ctx = Context(actor=ENGINE, correlation_id=state.correlation_id or f"delivery-{state.notification_id}",
                      causation_id=state.request_event_id or None, trace_context=state.trace_context)  # fmt: skip
        job = _Job(rt, spec, item, ctx)
        if (
            recipient.digest is not Digest.NONE and state.urgency in DIGESTIBLE
            and not state.is_digest and not state.attempts
        ):  # fmt: skip
            held = NotificationDigested(notification_id=state.notification_id, digest=recipient.digest)
            await job.append(lambda s: decide_hold_for_digest(s, held), "digest")
            return None
        if (until := held_until(recipient.quiet, state.urgency, now)) is not None:
            return until  # quiet hours: deferred to their end, not dropped
        if not recipient.chain:
            # No contact point for this urgency: the in-app inbox holds it already, and there is nothing to send
            # (nor to record: most recipients have no external channel, and the log would fill with nothing).
            return None
        step = self._step(state, recipient, now)
        if await self._finish(job, state, step) or step.channel is None or step.at is None:
            return None
        if step.at > now:
            return step.at
        return await self._attempt(job, state, recipient.target(step.channel), recipient, now)

    def _step(
        self, state: DeliveryState, recipient: Recipient, now: datetime, *, just: AttemptRecord | None = None,
        retry_after: timedelta | None = None,
    ) -> NextStep:  # fmt: skip
        """What follows the attempts of this round (and `just`, the one made now)."""
        tried = state.this_round
        records = [a.record for a in tried] + ([just] if just else [])
        last_at = now if just else (tried[-1].at if tried else None)
        step = next_step(chain=[t.name for t in recipient.chain], attempts=records, last_at=last_at, now=now,
                         key=state.key, schedule=self.schedule, retry_after=retry_after)  # fmt: skip
        if just is None and tried and tried[-1].next_attempt_at is not None and step.channel == tried[-1].target:
            # The time decided with the last attempt stands (its peer's Retry-After was known only then).
            return NextStep(channel=step.channel, at=tried[-1].next_attempt_at)
        return step

    async def _finish(self, job: _Job, state: DeliveryState, step: NextStep, channel: Channel | None = None) -> bool:
        """Record the end `step` names (delivered, or a dead letter); False when the notification goes on.
        `channel`: the one that delivered, when the caller knows it."""
        if step.delivered:
            used = channel or next((a.channel for a in reversed(state.attempts) if a.ok), Channel.INBOX)
            await job.append(lambda s: decide_delivered(s, used), f"delivered-{state.round}")
            self.stats["delivered"] += 1
            return True
        if step.dead_reason is not None:
            reason = step.dead_reason
            await job.append(lambda s: decide_failed(s, reason), f"failed-{state.round}")
            self.stats["failed"] += 1
            log.warning("notification %s to %s is a dead letter: %s", state.notification_id, state.org_id, reason)
            return True
        return False

    async def _attempt(
        self, job: _Job, state: DeliveryState, target: Target, recipient: Recipient, now: datetime
    ) -> datetime | None:
        # A child of the notification's span: the trace of what caused it goes on to each channel's attempt.
        with event_span(f"deliver {target.channel.value}", state.trace_context, job.ctx.correlation_id):
            answer = await self.senders[target.channel].send(
                message_of(state), target.endpoint, idempotency_key=state.key, now=now
            )
        self.stats["sent"] += 1
        if self.after_send is not None:
            await self.after_send(answer)
        outcome = OUTCOMES[answer.outcome]
        DELIVERIES.labels(target.channel.value, outcome.value).inc()
        retry_after = timedelta(seconds=answer.retry_after_s) if answer.retry_after_s is not None else None
        following = self._step(state, recipient, now, just=AttemptRecord(target.name, outcome), retry_after=retry_after)
        number = state.next_attempt_no
        attempted = DeliveryAttempted(
            notification_id=state.notification_id, channel=target.channel, contact_point_id=target.contact_point_id,
            attempt=number, outcome=AttemptOutcome.OK if outcome is Outcome.DELIVERED else AttemptOutcome.FAILED,
            idempotency_key=state.key, status_code=answer.status, response=answer.response[:2000],
            next_attempt_at=following.at if following.channel is not None else None,
            permanent=outcome is Outcome.PERMANENT, reason_code=answer.reason.code,
        )  # fmt: skip
        await job.append(lambda s: decide_attempt(s, attempted), f"attempt-{number}")
        # The end this attempt made, if any (decided again on the inbox as the log has it, like every step).
        if await self._finish(job, state, following, target.channel):
            return None
        return following.at


@dataclass(frozen=True)
class _Job:
    """One notification being worked: where its steps are appended, and as whom."""

    rt: Runtime
    spec: DeliverySpec
    item: QueueItem
    ctx: Context

    async def append(self, decide: Callable[[DeliveryState | None], BaseModel | None], what: str) -> None:
        rt = self.rt
        await execute(
            pool=rt.pool, store=rt.store, schema=rt.schema, spec=self.spec, aggregate_id=self.item.inbox_id,
            decide=decide, context=self.ctx, event_id=delivery_event_id(self.item.notification_id, what),
        )  # fmt: skip
