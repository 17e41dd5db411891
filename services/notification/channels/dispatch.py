"""One entry for the delivery engine: any endpoint, the channel its kind names. Built once by the composition root
from the environment (never at import time)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Annotated

import httpx
from pydantic import Field, TypeAdapter

from services.notification.channels.common import Attempt, Channel, Message
from services.notification.channels.dingtalk import DingTalkChannel, DingTalkRobot
from services.notification.channels.mail import EmailChannel, EmailEndpoint, SmtpSettings
from services.notification.channels.network_guard import NetworkGuard
from services.notification.channels.rate_limit import RateLimit, RobotRateLimiter
from services.notification.channels.robot import RobotPoster
from services.notification.channels.sms import SmsChannel, SmsEndpoint, SmsProvider
from services.notification.channels.webhook import WebhookChannel, WebhookEndpoint
from services.notification.channels.wecom import WeComChannel, WeComRobot
from shared.clock import Clock

Endpoint = Annotated[
    WebhookEndpoint | EmailEndpoint | DingTalkRobot | WeComRobot | SmsEndpoint, Field(discriminator="kind")
]
ENDPOINT = TypeAdapter(Endpoint)  # parses a stored contact point's endpoint, naming the field that is wrong


@dataclass(frozen=True)
class ChannelSettings:
    smtp: SmtpSettings
    robot_rate: RateLimit = field(default_factory=RateLimit)
    plain_http_anywhere: bool = False
    network_guard: NetworkGuard | None = None  # None in development: receivers on this machine or the LAN

    @classmethod
    def from_env(cls, env: Mapping[str, str], *, environment: str) -> ChannelSettings:
        """TIAODU_SMTP_URL, TIAODU_SMTP_FROM, TIAODU_ROBOT_RATE (`20/60s`) and, in development only,
        TIAODU_WEBHOOK_PLAIN_HTTP=1 (http:// to hosts beyond loopback, e.g. a colleague's receiver on the LAN);
        elsewhere TIAODU_WEBHOOK_ALLOWED_NETWORKS (the private networks webhooks and robots may reach)."""
        plain_http_anywhere = env.get("TIAODU_WEBHOOK_PLAIN_HTTP", "") in ("1", "true", "yes")
        if plain_http_anywhere and environment != "development":
            raise RuntimeError("TIAODU_WEBHOOK_PLAIN_HTTP is for development only: webhooks and robots need https")
        return cls(
            smtp=SmtpSettings.from_env(env),
            robot_rate=RateLimit.parse(env.get("TIAODU_ROBOT_RATE", "20/60s")),
            plain_http_anywhere=plain_http_anywhere,
            network_guard=None if environment == "development" else NetworkGuard.from_env(env),
        )


class Channels:
    def __init__(
        self,
        settings: ChannelSettings,
        *,
        http: httpx.AsyncClient,
        clock: Clock,
        sms_provider: SmsProvider | None = None,
    ) -> None:
        """`http` is the composition root's client (http_peer.http_client()); it closes it. Without an SMS provider,
        SMS endpoints answer `sms_not_configured`."""
        plain, guard = settings.plain_http_anywhere, settings.network_guard
        limiter = RobotRateLimiter(clock, settings.robot_rate)
        poster = RobotPoster(http, limiter, plain_http_anywhere=plain, network_guard=guard)
        # Typed as the protocol, so that mypy holds every channel to the one interface.
        self.webhook: Channel[WebhookEndpoint] = WebhookChannel(http, plain_http_anywhere=plain, network_guard=guard)
        self.email: Channel[EmailEndpoint] = EmailChannel(settings.smtp)
        self.dingtalk: Channel[DingTalkRobot] = DingTalkChannel(poster)
        self.wecom: Channel[WeComRobot] = WeComChannel(poster)
        self.sms: Channel[SmsEndpoint] = SmsChannel(sms_provider)

    async def send(self, message: Message, endpoint: Endpoint, *, idempotency_key: str, now: datetime) -> Attempt:
        match endpoint:
            case WebhookEndpoint():
                return await self.webhook.send(message, endpoint, idempotency_key=idempotency_key, now=now)
            case EmailEndpoint():
                return await self.email.send(message, endpoint, idempotency_key=idempotency_key, now=now)
            case DingTalkRobot():
                return await self.dingtalk.send(message, endpoint, idempotency_key=idempotency_key, now=now)
            case WeComRobot():
                return await self.wecom.send(message, endpoint, idempotency_key=idempotency_key, now=now)
            case SmsEndpoint():
                return await self.sms.send(message, endpoint, idempotency_key=idempotency_key, now=now)
