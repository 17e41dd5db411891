"""The robots' rate limit queues on the platform clock: the 21st message to one robot within a minute waits for the
window, in order, and is then sent (nothing dropped); other robots are not held up meanwhile."""

from __future__ import annotations

import asyncio
import json
import urllib.parse
from datetime import UTC, datetime, timedelta

import pytest

from services.notification.channels.common import Attempt, Message, Outcome
from services.notification.channels.dingtalk import DingTalkChannel, DingTalkRobot, sign
from services.notification.channels.http_peer import http_client
from services.notification.channels.rate_limit import RateLimit, RobotRateLimiter, robot_key
from services.notification.channels.robot import RobotPoster
from services.notification.channels.wecom import WeComChannel, WeComRobot
from shared.clock import SimulatedClock, SystemClock
from tests.notification.channels.conftest import Answer, Receiver

START = datetime(2024, 6, 3, 1, 0, tzinfo=UTC)
OK = Answer(200, '{"errcode":0,"errmsg":"ok"}', content_type="application/json")


async def test_the_21st_message_within_a_minute_waits_for_the_window_then_goes(receiver: Receiver) -> None:
    receiver.default = OK
    clock = SimulatedClock(START)
    limiter = RobotRateLimiter(clock, RateLimit(20, timedelta(minutes=1)), poll_s=0.01)
    busy = DingTalkRobot(url=f"{receiver.url}/busy?access_token=busy-token", secret="SECbusy")
    other = WeComRobot(url=f"{receiver.url}/other?key=other-key")
    async with http_client() as http:
        poster = RobotPoster(http, limiter)
        dingtalk, wecom = DingTalkChannel(poster), WeComChannel(poster)
        attempts: list[Attempt] = []
        for n in range(1, 21):  # one a second on the platform's clock
            message = Message(title=f"消息 {n}", body="正文")
            attempts.append(await dingtalk.send(message, busy, idempotency_key=f"k{n}", now=clock.now()))
            clock.advance(timedelta(seconds=1))
        queued = [
            asyncio.create_task(dingtalk.send(Message(title=f"消息 {n}", body="正文"), busy, idempotency_key=f"k{n}",
                                              now=clock.now()))
            for n in (21, 22)
        ]  # fmt: skip

        await receiver.wait_for(20)
        await asyncio.wait_for(limiter.until_queued(robot_key(busy.url), 2), 10)
        assert len(receiver.received) == 20 and not any(task.done() for task in queued)

        # Another robot has its own window: it goes at once while the busy one's queue waits.
        other_attempt = await wecom.send(
            Message(title="另一群", body="正文"), other, idempotency_key="o1", now=clock.now()
        )
        assert other_attempt.outcome is Outcome.DELIVERED and other_attempt.queued_ms < 1000
        assert not any(task.done() for task in queued) and limiter.queued(robot_key(busy.url)) == 2

        clock.advance(timedelta(seconds=40))  # a minute after the first message: its slot frees, not the second's
        twenty_first = await asyncio.wait_for(queued[0], 10)
        await asyncio.wait_for(limiter.until_queued(robot_key(busy.url), 1), 10)
        assert not queued[1].done()
        clock.advance(timedelta(seconds=1))  # and now the second's
        twenty_second = await asyncio.wait_for(queued[1], 10)

    assert all(a.outcome is Outcome.DELIVERED and a.queued_ms < 1000 for a in attempts)
    assert all(a.outcome is Outcome.DELIVERED and a.queued_ms > 0 for a in (twenty_first, twenty_second))
    busy_requests = [r for r in receiver.received if r.path == "/busy"]
    titles = [json.loads(r.body)["markdown"]["title"] for r in busy_requests]
    assert titles == [f"消息 {n}" for n in range(1, 23)]  # queued in order, none dropped
    # Each queued message is signed when it went, not when it was handed over (the 22nd also waited its turn).
    went_at = (START + timedelta(seconds=60), START + timedelta(seconds=61))
    for request, went in zip(busy_requests[20:], went_at, strict=True):
        timestamp = int(request.query["timestamp"])
        assert datetime.fromtimestamp(timestamp / 1000, UTC) == went
        raw_sign = dict(p.split("=", 1) for p in request.raw_query.split("&"))["sign"]
        assert raw_sign == urllib.parse.quote_plus(sign("SECbusy", timestamp))


async def test_on_the_real_clock_a_short_window_frees_itself(receiver: Receiver) -> None:
    receiver.default = OK
    limiter = RobotRateLimiter(SystemClock(), RateLimit(3, timedelta(seconds=0.4)), poll_s=0.05)
    target = WeComRobot(url=f"{receiver.url}/quick?key=k")
    async with http_client() as http:
        wecom = WeComChannel(RobotPoster(http, limiter))
        attempts = await asyncio.gather(
            *(wecom.send(Message(title=f"{n}", body="b"), target, idempotency_key=f"q{n}", now=START) for n in range(4))
        )
    assert [a.outcome for a in attempts] == [Outcome.DELIVERED] * 4
    assert max(a.queued_ms for a in attempts[:3]) < 300
    assert attempts[3].queued_ms >= 300  # the fourth waited for the first to leave the 0.4 s window


def test_the_rate_is_configurable() -> None:
    assert RateLimit.parse("20/60s") == RateLimit(20, timedelta(minutes=1))
    assert RateLimit.parse("5/0.5s") == RateLimit(5, timedelta(seconds=0.5))
    for bad in ("20", "0/60s", "20/0s", "a/60s"):
        with pytest.raises(ValueError, match="TIAODU_ROBOT_RATE"):
            RateLimit.parse(bad)
