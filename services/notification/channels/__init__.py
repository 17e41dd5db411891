"""Notification channels (docs/adr/0027): `send(message, endpoint, *, idempotency_key, now) -> Attempt` on the
webhook (Standard Webhooks), e-mail (SMTP), DingTalk and WeCom robot channels, and SMS behind a provider interface;
a peer's failure is an outcome in the attempt, never an exception."""

from services.notification.channels.common import (
    REASONS,
    Attempt,
    Channel,
    Mentions,
    Message,
    Outcome,
    Reason,
    Urgency,
)
from services.notification.channels.dingtalk import DingTalkRobot
from services.notification.channels.dispatch import ENDPOINT, Channels, ChannelSettings, Endpoint
from services.notification.channels.http_peer import http_client
from services.notification.channels.mail import EmailEndpoint, SmtpSettings
from services.notification.channels.rate_limit import RateLimit
from services.notification.channels.sms import ProviderAnswer, SmsEndpoint, SmsProvider
from services.notification.channels.webhook import WebhookEndpoint, new_webhook_secret
from services.notification.channels.wecom import WeComRobot

__all__ = [
    "ENDPOINT",
    "REASONS",
    "Attempt",
    "Channel",
    "ChannelSettings",
    "Channels",
    "DingTalkRobot",
    "EmailEndpoint",
    "Endpoint",
    "Mentions",
    "Message",
    "Outcome",
    "ProviderAnswer",
    "RateLimit",
    "Reason",
    "SmsEndpoint",
    "SmsProvider",
    "SmtpSettings",
    "Urgency",
    "WeComRobot",
    "WebhookEndpoint",
    "http_client",
    "new_webhook_secret",
]
