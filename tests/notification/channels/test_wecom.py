"""The WeCom robot channel against a local receiver that checks the documented message formats."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from services.notification.channels.common import Mentions, Message, Outcome, Urgency
from services.notification.channels.http_peer import http_client
from services.notification.channels.rate_limit import RobotRateLimiter
from services.notification.channels.robot import RobotPoster
from services.notification.channels.wecom import WeComChannel, WeComRobot
from shared.clock import SimulatedClock
from tests.notification.channels.conftest import Answer, Receiver

NOW = datetime(2024, 6, 3, 1, 0, tzinfo=UTC)
KEY = "693a91f6-7xxx-4bc4-97a0-0ec2sifa5aaa"
OK = Answer(200, '{"errcode":0,"errmsg":"ok"}', content_type="application/json")
MESSAGE = Message(
    title="红灯:焦作市中心医院新院区",
    body="里程碑**主体封顶**已逾期 5 个监测日。",
    urgency=Urgency.CRITICAL,
    link="https://tiaodu.example/projects/p-7",
)


@pytest.fixture
async def channel() -> AsyncIterator[WeComChannel]:
    async with http_client() as http:
        yield WeComChannel(RobotPoster(http, RobotRateLimiter(SimulatedClock(NOW))))


def robot(receiver: Receiver) -> WeComRobot:
    return WeComRobot(url=f"{receiver.url}/cgi-bin/webhook/send?key={KEY}")


async def test_markdown_with_user_mentions(receiver: Receiver, channel: WeComChannel) -> None:
    receiver.default = OK
    message = MESSAGE.model_copy(update={"mentions": Mentions(user_ids=("zhangsan", "lisi"))})
    attempt = await channel.send(message, robot(receiver), idempotency_key="ntf-1.wecom", now=NOW)

    assert (attempt.outcome, attempt.reason.code, attempt.status) == (Outcome.DELIVERED, "delivered", 200)
    [request] = receiver.received
    assert (request.path, request.query) == ("/cgi-bin/webhook/send", {"key": KEY})
    sent = json.loads(request.body)
    assert list(sent) == ["msgtype", "markdown"] and sent["msgtype"] == "markdown"
    content = sent["markdown"]["content"]
    assert content.startswith("### 【紧急】红灯:焦作市中心医院新院区\n")
    assert MESSAGE.body in content and "[查看详情](https://tiaodu.example/projects/p-7)" in content
    assert content.endswith("<@zhangsan> <@lisi>")


async def test_mobiles_and_everyone_go_as_text_with_the_mention_lists(
    receiver: Receiver, channel: WeComChannel
) -> None:
    receiver.default = OK
    message = MESSAGE.model_copy(
        update={"mentions": Mentions(mobiles=("13800001111",), user_ids=("wangwu",), everyone=True)}
    )
    await channel.send(message, robot(receiver), idempotency_key="ntf-2", now=NOW)
    sent = json.loads(receiver.received[0].body)
    assert sent["msgtype"] == "text"
    assert sent["text"]["mentioned_list"] == ["wangwu", "@all"]
    assert sent["text"]["mentioned_mobile_list"] == ["13800001111"]
    assert sent["text"]["content"].startswith("【紧急】红灯:焦作市中心医院新院区\n")
    assert sent["text"]["content"].endswith("查看详情:https://tiaodu.example/projects/p-7")


async def test_long_chinese_bodies_fit_wecoms_byte_limits(receiver: Receiver, channel: WeComChannel) -> None:
    receiver.default = OK
    long = MESSAGE.model_copy(update={"body": "进度" * 3000})
    await channel.send(long, robot(receiver), idempotency_key="ntf-3", now=NOW)
    await channel.send(
        long.model_copy(update={"mentions": Mentions(everyone=True)}), robot(receiver), idempotency_key="ntf-4", now=NOW
    )
    markdown, text = (json.loads(r.body) for r in receiver.received)
    assert 4000 < len(markdown["markdown"]["content"].encode()) <= 4096
    assert markdown["markdown"]["content"].endswith("[查看详情](https://tiaodu.example/projects/p-7)")
    assert 2000 < len(text["text"]["content"].encode()) <= 2048


@pytest.mark.parametrize(
    ("answer", "outcome", "code"),
    [
        (Answer(200, '{"errcode":45009,"errmsg":"api freq out of limit"}'), Outcome.RETRYABLE, "peer_rate_limited"),
        (Answer(200, '{"errcode":93000,"errmsg":"invalid webhook url"}'), Outcome.PERMANENT, "robot_rejected"),
        (Answer(429, "slow"), Outcome.RETRYABLE, "peer_rate_limited"),
    ],
)
async def test_errcodes_decide_the_outcome(
    receiver: Receiver, channel: WeComChannel, answer: Answer, outcome: Outcome, code: str
) -> None:
    receiver.default = answer
    attempt = await channel.send(MESSAGE, robot(receiver), idempotency_key="ntf-5", now=NOW)
    assert (attempt.outcome, attempt.reason.code, attempt.response) == (outcome, code, answer.body)


async def test_the_key_stays_out_of_logs_and_attempts(
    receiver: Receiver, channel: WeComChannel, caplog: pytest.LogCaptureFixture
) -> None:
    target = robot(receiver)
    receiver.default = Answer(200, json.dumps({"errcode": 93000, "errmsg": f"invalid webhook url, key={KEY}"}))
    with caplog.at_level(logging.DEBUG):
        attempt = await channel.send(MESSAGE, target, idempotency_key="ntf-6", now=NOW)
    assert "HTTP Request: POST" in caplog.text
    for text in (caplog.text, attempt.model_dump_json(), repr(target)):
        assert KEY not in text


def test_a_robot_url_needs_its_key() -> None:
    with pytest.raises(ValidationError) as bad:
        WeComRobot(url="https://qyapi.weixin.qq.com/cgi-bin/webhook/send")
    assert bad.value.errors()[0]["loc"] == ("url",)
