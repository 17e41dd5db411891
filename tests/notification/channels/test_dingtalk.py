"""The DingTalk robot channel against a local receiver that checks the message format and the 加签 signature the way
DingTalk's documentation computes it."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import urllib.parse
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from services.notification.channels.common import Mentions, Message, Outcome, Urgency
from services.notification.channels.dingtalk import DingTalkChannel, DingTalkRobot
from services.notification.channels.http_peer import http_client
from services.notification.channels.rate_limit import RobotRateLimiter
from services.notification.channels.robot import RobotPoster
from shared.clock import SimulatedClock
from shared.devstack.embedded import free_port
from tests.notification.channels.conftest import Answer, Receiver

NOW = datetime(2024, 6, 3, 1, 0, 0, 123000, tzinfo=UTC)
SECRET = "SECa1b2c3d4e5f60718293a4b5c6d7e8f9012345678901234567890abcdef0123"
TOKEN = "0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0"
OK = Answer(200, '{"errcode":0,"errmsg":"ok"}', content_type="application/json")
MESSAGE = Message(
    title="督办令:第 12 号",
    body="请**焦作市发改委**于 6 月 7 日前反馈办理情况。",
    urgency=Urgency.HIGH,
    link="https://tiaodu.example/supervision/12",
    mentions=Mentions(mobiles=("13800001111",), user_ids=("manager4321",)),
)


def documented_sign(timestamp: str, secret: str) -> str:
    """DingTalk's own Python sample for 加签, step by step."""
    secret_enc = secret.encode("utf-8")
    string_to_sign = f"{timestamp}\n{secret}"
    hmac_code = hmac.new(secret_enc, string_to_sign.encode("utf-8"), digestmod=hashlib.sha256).digest()
    return urllib.parse.quote_plus(base64.b64encode(hmac_code))


@pytest.fixture
async def channel() -> AsyncIterator[DingTalkChannel]:
    async with http_client() as http:
        yield DingTalkChannel(RobotPoster(http, RobotRateLimiter(SimulatedClock(NOW))))


def robot(receiver: Receiver, *, secret: str | None = SECRET) -> DingTalkRobot:
    return DingTalkRobot(url=f"{receiver.url}/robot/send?access_token={TOKEN}", secret=secret)


async def test_a_signed_markdown_message_with_mentions(receiver: Receiver, channel: DingTalkChannel) -> None:
    receiver.default = OK
    attempt = await channel.send(MESSAGE, robot(receiver), idempotency_key="ntf-1.dingtalk", now=NOW)

    assert (attempt.outcome, attempt.reason.code, attempt.status) == (Outcome.DELIVERED, "delivered", 200)
    [request] = receiver.received
    assert request.path == "/robot/send"
    raw = dict(part.split("=", 1) for part in request.raw_query.split("&"))
    assert raw["access_token"] == TOKEN
    assert raw["timestamp"] == str(int(NOW.timestamp() * 1000))  # milliseconds on the injected clock
    assert raw["sign"] == documented_sign(raw["timestamp"], SECRET)  # URL-encoded on the wire, exactly once
    assert request.headers["content-type"].startswith("application/json")
    sent = json.loads(request.body)
    assert sent["msgtype"] == "markdown"
    assert sent["markdown"]["title"] == "【重要】督办令:第 12 号"
    text = sent["markdown"]["text"]
    assert text.startswith("#### 【重要】督办令:第 12 号")
    assert MESSAGE.body in text and "[查看详情](https://tiaodu.example/supervision/12)" in text
    assert "@13800001111" in text and "@manager4321" in text  # DingTalk highlights only what the text names
    assert sent["at"] == {"atMobiles": ["13800001111"], "atUserIds": ["manager4321"], "isAtAll": False}


async def test_a_robot_without_a_secret_gets_no_signature(receiver: Receiver, channel: DingTalkChannel) -> None:
    receiver.default = OK
    everyone = Message(title="周报", body="本周汇总", mentions=Mentions(everyone=True))
    attempt = await channel.send(everyone, robot(receiver, secret=None), idempotency_key="ntf-2", now=NOW)
    assert attempt.outcome is Outcome.DELIVERED
    [request] = receiver.received
    assert request.raw_query == f"access_token={TOKEN}"
    assert json.loads(request.body)["at"]["isAtAll"] is True


@pytest.mark.parametrize(
    ("answer", "outcome", "code"),
    [
        (Answer(200, '{"errcode":130101,"errmsg":"send too fast"}'), Outcome.RETRYABLE, "peer_rate_limited"),
        (Answer(200, '{"errcode":-1,"errmsg":"系统繁忙"}'), Outcome.RETRYABLE, "robot_busy"),
        (Answer(200, '{"errcode":310000,"errmsg":"sign not match"}'), Outcome.PERMANENT, "robot_rejected"),
        (Answer(200, "<html>not the robot</html>"), Outcome.PERMANENT, "unexpected_answer"),
        (Answer(503, "upstream down", {"Retry-After": "12"}), Outcome.RETRYABLE, "peer_unavailable"),
        (Answer(404, "no such path"), Outcome.PERMANENT, "peer_rejected"),
    ],
)
async def test_errcodes_decide_the_outcome(
    receiver: Receiver, channel: DingTalkChannel, answer: Answer, outcome: Outcome, code: str
) -> None:
    receiver.default = answer
    attempt = await channel.send(MESSAGE, robot(receiver), idempotency_key="ntf-3", now=NOW)
    assert (attempt.outcome, attempt.reason.code, attempt.status) == (outcome, code, answer.status)
    assert attempt.response == answer.body
    assert attempt.retry_after_s == (12.0 if answer.status == 503 else None)


async def test_token_secret_and_signature_stay_out_of_logs_and_attempts(
    receiver: Receiver, channel: DingTalkChannel, caplog: pytest.LogCaptureFixture
) -> None:
    target = robot(receiver)
    receiver.default = Answer(200, json.dumps({"errcode": 300001, "errmsg": f"token {TOKEN} invalid"}))
    with caplog.at_level(logging.DEBUG):
        attempt = await channel.send(MESSAGE, target, idempotency_key="ntf-4", now=NOW)
    assert "HTTP Request: POST" in caplog.text  # the client's request log was captured, so the checks bite
    signature = dict(p.split("=", 1) for p in receiver.received[0].raw_query.split("&"))["sign"]
    for leak in (TOKEN, SECRET, signature, urllib.parse.unquote_plus(signature)):
        assert leak not in caplog.text
        assert leak not in attempt.model_dump_json()
        assert leak not in repr(target)
    assert attempt.response == '{"errcode": 300001, "errmsg": "token *** invalid"}'


async def test_plain_http_beyond_loopback_is_refused(channel: DingTalkChannel) -> None:
    target = DingTalkRobot(url=f"http://oapi.dingtalk.com/robot/send?access_token={TOKEN}", secret=SECRET)
    attempt = await channel.send(MESSAGE, target, idempotency_key="ntf-5", now=NOW)
    assert (attempt.outcome, attempt.reason.code) == (Outcome.PERMANENT, "insecure_endpoint")


def test_a_robot_url_needs_its_access_token() -> None:
    with pytest.raises(ValidationError) as bad:
        DingTalkRobot(url="https://oapi.dingtalk.com/robot/send")
    assert bad.value.errors()[0]["loc"] == ("url",)


async def test_transport_failures_are_retryable(channel: DingTalkChannel) -> None:
    target = DingTalkRobot(url=f"http://127.0.0.1:{free_port()}/robot/send?access_token={TOKEN}")
    attempt = await channel.send(MESSAGE, target, idempotency_key="ntf-6", now=NOW)
    assert (attempt.outcome, attempt.reason.code) == (Outcome.RETRYABLE, "peer_unreachable")
