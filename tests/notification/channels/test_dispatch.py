"""Channels built from the environment send to every kind of endpoint, each through its own channel."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from services.notification.channels import (
    ENDPOINT,
    Channels,
    ChannelSettings,
    DingTalkRobot,
    EmailEndpoint,
    Message,
    Outcome,
    RateLimit,
    WebhookEndpoint,
    WeComRobot,
    http_client,
    new_webhook_secret,
)
from shared.clock import SimulatedClock
from tests.notification.channels.conftest import Answer, Receiver, SmtpServer

NOW = datetime(2024, 6, 3, 1, 0, tzinfo=UTC)


async def test_one_entry_sends_on_every_channel(receiver: Receiver, smtp: SmtpServer) -> None:
    receiver.default = Answer(200, '{"errcode":0,"errmsg":"ok"}')
    env = {"TIAODU_SMTP_URL": smtp.url, "TIAODU_SMTP_FROM": "noreply@tiaodu.example",
           "TIAODU_WEBHOOK_ALLOWED_NETWORKS": "127.0.0.0/8"}  # the peers here are on this machine  # fmt: skip
    settings = ChannelSettings.from_env(env, environment="production")
    endpoints = [
        ENDPOINT.validate_python({"kind": "webhook", "url": f"{receiver.url}/hook", "secret": new_webhook_secret()}),
        ENDPOINT.validate_python({"kind": "email", "address": "unit@city.example"}),
        ENDPOINT.validate_python({"kind": "dingtalk", "url": f"{receiver.url}/ding?access_token=t", "secret": "S"}),
        ENDPOINT.validate_python({"kind": "wecom", "url": f"{receiver.url}/wecom?key=k"}),
    ]
    assert [type(e) for e in endpoints] == [WebhookEndpoint, EmailEndpoint, DingTalkRobot, WeComRobot]
    async with http_client() as http:
        channels = Channels(settings, http=http, clock=SimulatedClock(NOW))
        attempts = [
            await channels.send(Message(title="通知", body="正文"), e, idempotency_key=f"k{n}", now=NOW)
            for n, e in enumerate(endpoints)
        ]
        sms = ENDPOINT.validate_python({"kind": "sms", "mobile": "13800001111"})
        no_sms = await channels.send(Message(title="通知", body="正文"), sms, idempotency_key="s", now=NOW)
    assert [(a.channel, a.outcome) for a in attempts] == [
        ("webhook", Outcome.DELIVERED), ("email", Outcome.DELIVERED),
        ("dingtalk", Outcome.DELIVERED), ("wecom", Outcome.DELIVERED),
    ]  # fmt: skip
    assert [r.path for r in receiver.received] == ["/hook", "/ding", "/wecom"]
    assert (no_sms.channel, no_sms.outcome, no_sms.reason.code) == ("sms", Outcome.PERMANENT, "sms_not_configured")
    assert json.loads(receiver.received[2].body)["msgtype"] == "markdown"
    assert smtp.mailbox.messages[0]["Subject"] == "通知"


def test_a_bad_endpoint_names_its_field() -> None:
    with pytest.raises(ValidationError) as unknown:
        ENDPOINT.validate_python({"kind": "pager", "url": "https://x"})
    assert "kind" in str(unknown.value)
    with pytest.raises(ValidationError) as bad:
        ENDPOINT.validate_python({"kind": "wecom", "url": "https://qyapi.weixin.qq.com/cgi-bin/webhook/send"})
    assert bad.value.errors()[0]["loc"] == ("wecom", "url")


def test_settings_from_the_environment() -> None:
    settings = ChannelSettings.from_env({"TIAODU_ROBOT_RATE": "10/30s"}, environment="production")
    assert settings.robot_rate == RateLimit.parse("10/30s") and not settings.plain_http_anywhere
    assert (settings.smtp.host, settings.smtp.port) == ("127.0.0.1", 1025)
    development = ChannelSettings.from_env({"TIAODU_WEBHOOK_PLAIN_HTTP": "1"}, environment="development")
    assert development.plain_http_anywhere
    with pytest.raises(RuntimeError, match="development only"):
        ChannelSettings.from_env({"TIAODU_WEBHOOK_PLAIN_HTTP": "1"}, environment="production")
