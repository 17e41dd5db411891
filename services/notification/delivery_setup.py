"""The delivery engine wired to the real channels (composition: bootstrap.py calls `DeliverySetup.start`).

- The `delivery` reaction queues every NotificationRequested and DeliveryResendRequested (delivery_worker.py).
- The recipient of a notification is read from its `subscription` row (contact points, preferences); secrets are
  opened here with the service's secret box, handed to the channel and never kept or logged.
- The channels (services/notification/channels/dispatch.py): Standard Webhooks, e-mail over SMTP (TIAODU_SMTP_URL),
  DingTalk and WeCom robots behind one rate limiter on the platform clock (TIAODU_ROBOT_RATE), SMS (without a
  provider an SMS contact point refuses for good, and the chain moves on).
- TIAODU_FAULT_KILL_AFTER_SEND=<n> (development only, for the fault tests): the process SIGKILLs itself after its
  n-th send was answered and before the attempt is recorded, the worst moment for at-least-once delivery.
"""

from __future__ import annotations

import logging
import os
import signal
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx
from pydantic import SecretStr, ValidationError

from services.notification.channels.common import Attempt
from services.notification.channels.dingtalk import DingTalkRobot
from services.notification.channels.dispatch import Channels, ChannelSettings
from services.notification.channels.http_peer import http_client
from services.notification.channels.mail import EmailEndpoint
from services.notification.channels.sms import SmsEndpoint
from services.notification.channels.webhook import WebhookEndpoint
from services.notification.channels.wecom import WeComRobot
from services.notification.delivery import AfterSend, DeliveryEngine, Sender
from services.notification.delivery_targets import ContactPoint, EndpointFactory, Recipient, recipient_of
from services.notification.delivery_worker import DELIVERY, DeliveryRunner, queue_handler, start_delivery
from services.notification.read_model_subscriptions import SUBSCRIPTIONS
from services.notification.secret_box import SecretBox, binding
from shared.catalogue import CATALOGUE
from shared.catalogue.notification import Channel, Preferences
from shared.catalogue.notification_delivery import DeliveryResendRequested
from shared.reactions import Cause, Reaction
from shared.runtime import Runtime
from shared.settings import Settings

log = logging.getLogger("tiaodu.notification.delivery")

FAULT_ENV = "TIAODU_FAULT_KILL_AFTER_SEND"


def _when(cause: Cause) -> Any:
    return cause.event.envelope.recorded_at


def _round(cause: Cause) -> int:
    payload = CATALOGUE.payload_of(cause.event)
    return payload.round if isinstance(payload, DeliveryResendRequested) else 1


def delivery_reaction() -> Reaction:
    """Queue what is to be delivered: a request from the moment it was recorded, a resend as a newer round."""
    return Reaction(
        DELIVERY,
        {
            "NotificationRequested": queue_handler(replace_round=False, due=_when, round_of=_round),
            "DeliveryResendRequested": queue_handler(replace_round=True, due=_when, round_of=_round),
        },
        start="beginning",
    )


def _usable(build: Any) -> EndpointFactory:
    """A contact point the channel refuses to take (no secret, a malformed URL) is left out of the chain."""

    def factory(point: ContactPoint) -> Any:
        try:
            return build(point)
        except (ValidationError, ValueError, TypeError) as exc:
            log.warning("contact point %s not usable for %s: %s", point.contact_point_id, point.kind.value,
                        type(exc).__name__)  # fmt: skip
            return None

    return factory


ENDPOINTS: Mapping[Channel, EndpointFactory] = {
    Channel.WEBHOOK: _usable(lambda p: WebhookEndpoint(url=p.address, secret=SecretStr(p.secret or ""))),
    Channel.EMAIL: _usable(lambda p: EmailEndpoint(address=p.address, name=p.label or None)),
    Channel.DINGTALK: _usable(lambda p: DingTalkRobot(url=p.address, secret=SecretStr(p.secret) if p.secret else None)),
    Channel.WECOM: _usable(lambda p: WeComRobot(url=p.address)),
    Channel.SMS: _usable(lambda p: SmsEndpoint(mobile=p.address)),
}


@dataclass
class SubscriptionResolver:
    box: SecretBox
    endpoints: Mapping[Channel, EndpointFactory] = field(default_factory=lambda: ENDPOINTS)

    async def __call__(self, rt: Runtime, org_id: str, person: str | None, urgency: str) -> Recipient:
        async with rt.pool.acquire() as conn:
            state, _ = await SUBSCRIPTIONS.load_row(conn, rt.schema, org_id)
        if state is None:
            return recipient_of([], Preferences(), urgency, person, self.endpoints)
        points = [self._point(org_id, p) for p in state.contact_points.values()]
        return recipient_of(points, state.preferences, urgency, person, self.endpoints)

    def _point(self, org_id: str, p: Any) -> ContactPoint:
        secret = self._open(org_id, p.contact_point_id, p.secret)
        return ContactPoint(
            contact_point_id=p.contact_point_id, kind=p.kind, address=p.address, person=p.person, secret=secret,
            enabled=p.enabled, label=p.label,
        )  # fmt: skip

    def _open(self, org_id: str, point_id: str, sealed: Any) -> str | None:
        if sealed is None:
            return None
        try:
            return self.box.open(sealed, binding(org_id, point_id))
        except Exception as exc:  # a secret sealed under another key: the contact point cannot be used
            log.warning("contact point %s/%s: its secret does not open (%s)", org_id, point_id, type(exc).__name__)
            return None


def fault_after_send(settings: Settings) -> AfterSend | None:
    """The fault tests' hook (development only): SIGKILL after the n-th answered send, before its record."""
    raw = os.environ.get(FAULT_ENV)
    if not raw or settings.environment != "development":
        return None
    limit = int(raw)
    sent = 0

    async def after(answer: Attempt) -> None:
        nonlocal sent
        sent += 1
        if sent >= limit:
            log.warning("%s=%s: killing this process after the peer answered %s", FAULT_ENV, raw, answer.outcome)
            os.kill(os.getpid(), signal.SIGKILL)

    return after


@dataclass
class DeliverySetup:
    settings: Settings
    box: SecretBox
    http: httpx.AsyncClient | None = None
    runner: DeliveryRunner | None = None
    engine: DeliveryEngine | None = None

    def senders(self, rt: Runtime) -> dict[Channel, Sender]:
        """Every channel through the channels' one entry (it picks the channel by the endpoint's kind)."""
        self.http = http_client()
        settings = ChannelSettings.from_env(os.environ, environment=self.settings.environment)
        channels = Channels(settings, http=self.http, clock=rt.clock)
        return {channel: channels for channel in ENDPOINTS}

    async def start(self, rt: Runtime) -> DeliveryRunner:
        self.engine = DeliveryEngine(
            resolve=SubscriptionResolver(self.box), senders=self.senders(rt), after_send=fault_after_send(self.settings)
        )
        self.runner = await start_delivery(rt, delivery_reaction(), self.engine)
        return self.runner

    async def stop(self) -> None:
        if self.http is not None:
            await self.http.aclose()
