"""The webhook channel against a real local receiver that verifies with the Standard Webhooks library itself."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx
import pytest
from pydantic import ValidationError
from standardwebhooks import Webhook

from services.notification.channels.common import Message, Outcome, Urgency
from services.notification.channels.http_peer import http_client, url_refusal
from services.notification.channels.webhook import WebhookChannel, WebhookEndpoint, new_webhook_secret
from shared.devstack.embedded import free_port
from tests.notification.channels.conftest import Answer, Receiver

MESSAGE = Message(
    title="问题已升级:焦作市中心医院新院区项目土地手续",
    body="**升级至** 市指挥部办公室\n\n请于 3 个工作日内协调。",
    urgency=Urgency.HIGH,
    link="https://tiaodu.example/issues/i-1",
    topic="issue.escalated",
    data={"issue_id": "i-1", "project_id": "p-7"},
)
SIMULATED = datetime(2024, 3, 1, 1, 30, tzinfo=UTC)


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with http_client() as client:
        yield client


def endpoint(receiver: Receiver, path: str = "/hooks/tiaodu") -> WebhookEndpoint:
    return WebhookEndpoint(url=receiver.url + path, secret=new_webhook_secret())


async def test_the_receivers_library_verifies_what_the_platform_signed(
    receiver: Receiver, http: httpx.AsyncClient
) -> None:
    target = endpoint(receiver)
    # The library checks the timestamp against its own wall clock (5 minutes' tolerance): send at the real time.
    now = datetime.now(UTC)

    attempt = await WebhookChannel(http).send(MESSAGE, target, idempotency_key="ntf-1.webhook", now=now)

    assert (attempt.outcome, attempt.status, attempt.reason.code) == (Outcome.DELIVERED, 200, "delivered")
    assert attempt.channel == "webhook" and attempt.idempotency_key == "ntf-1.webhook" and attempt.latency_ms > 0
    [request] = receiver.received
    assert request.path == "/hooks/tiaodu"
    assert request.headers["webhook-id"] == "ntf-1.webhook"
    assert request.headers["content-type"] == "application/json"
    payload = Webhook(target.secret.get_secret_value()).verify(request.body, request.headers)
    assert payload["type"] == "issue.escalated"
    assert payload["data"]["title"] == MESSAGE.title
    assert payload["data"]["body"] == MESSAGE.body
    assert payload["data"]["urgency"] == "high"
    assert payload["data"]["details"] == {"issue_id": "i-1", "project_id": "p-7"}


async def test_a_signature_under_another_secret_does_not_verify(receiver: Receiver, http: httpx.AsyncClient) -> None:
    now = datetime.now(UTC)
    await WebhookChannel(http).send(MESSAGE, endpoint(receiver), idempotency_key="ntf-2", now=now)
    [request] = receiver.received
    with pytest.raises(Exception, match="No matching signature"):
        Webhook(new_webhook_secret()).verify(request.body, request.headers)


async def test_the_timestamp_is_the_injected_clocks(receiver: Receiver, http: httpx.AsyncClient) -> None:
    target = endpoint(receiver)
    await WebhookChannel(http).send(MESSAGE, target, idempotency_key="ntf-3", now=SIMULATED)
    [request] = receiver.received
    assert request.headers["webhook-timestamp"] == str(int(SIMULATED.timestamp()))
    assert json.loads(request.body)["timestamp"] == SIMULATED.isoformat()
    expected = Webhook(target.secret.get_secret_value()).sign("ntf-3", SIMULATED, request.body.decode())
    assert request.headers["webhook-signature"] == expected


@pytest.mark.parametrize(
    ("answer", "code", "retry_after"),
    [
        (Answer(503, "维护中", {"Retry-After": "30"}), "peer_unavailable", 30.0),
        (Answer(429, "slow down", {"Retry-After": format_datetime(SIMULATED + timedelta(seconds=90), usegmt=True)}),
         "peer_rate_limited", 90.0),
        (Answer(500, "boom"), "peer_unavailable", None),
    ],
)  # fmt: skip
async def test_rate_limits_and_server_errors_are_retryable_and_retry_after_is_passed_on(
    receiver: Receiver, http: httpx.AsyncClient, answer: Answer, code: str, retry_after: float | None
) -> None:
    receiver.script.append(answer)
    attempt = await WebhookChannel(http).send(MESSAGE, endpoint(receiver), idempotency_key="ntf-4", now=SIMULATED)
    assert (attempt.outcome, attempt.reason.code, attempt.status) == (Outcome.RETRYABLE, code, answer.status)
    assert attempt.retry_after_s == retry_after
    assert attempt.response == answer.body


@pytest.mark.parametrize(
    ("answer", "code"),
    [
        (Answer(400, "bad"), "peer_rejected"),
        (Answer(410, "gone"), "peer_rejected"),
        (Answer(301, "", {"Location": "/elsewhere"}), "redirect_not_followed"),
    ],
)
async def test_other_answers_are_permanent_and_redirects_are_not_followed(
    receiver: Receiver, http: httpx.AsyncClient, answer: Answer, code: str
) -> None:
    receiver.script.append(answer)
    attempt = await WebhookChannel(http).send(MESSAGE, endpoint(receiver), idempotency_key="ntf-5", now=SIMULATED)
    assert (attempt.outcome, attempt.reason.code, attempt.status) == (Outcome.PERMANENT, code, answer.status)
    assert attempt.retry_after_s is None
    assert [r.path for r in receiver.received] == ["/hooks/tiaodu"]


async def test_a_peer_that_does_not_answer_in_time_is_retryable(receiver: Receiver, http: httpx.AsyncClient) -> None:
    receiver.hold = asyncio.Event()  # released when the receiver stops
    channel = WebhookChannel(http, timeout=httpx.Timeout(0.3))
    attempt = await channel.send(MESSAGE, endpoint(receiver), idempotency_key="ntf-6", now=SIMULATED)
    assert (attempt.outcome, attempt.reason.code, attempt.status) == (Outcome.RETRYABLE, "peer_timeout", None)
    assert attempt.latency_ms >= 300


async def test_a_peer_that_is_not_there_is_retryable(http: httpx.AsyncClient) -> None:
    target = WebhookEndpoint(url=f"http://127.0.0.1:{free_port()}/hook", secret=new_webhook_secret())
    attempt = await WebhookChannel(http).send(MESSAGE, target, idempotency_key="ntf-7", now=SIMULATED)
    assert (attempt.outcome, attempt.reason.code) == (Outcome.RETRYABLE, "peer_unreachable")
    assert attempt.reason.text == "无法连接对方"


async def test_a_long_answer_is_truncated(receiver: Receiver, http: httpx.AsyncClient) -> None:
    receiver.script.append(Answer(400, "错" * 20_000))
    attempt = await WebhookChannel(http).send(MESSAGE, endpoint(receiver), idempotency_key="ntf-8", now=SIMULATED)
    assert len(attempt.response) == 500 and attempt.response.endswith("…")


async def test_plain_http_is_refused_beyond_loopback_without_the_development_flag(http: httpx.AsyncClient) -> None:
    target = WebhookEndpoint(url="http://hooks.unit.example/tiaodu", secret=new_webhook_secret())
    attempt = await WebhookChannel(http).send(MESSAGE, target, idempotency_key="ntf-9", now=SIMULATED)
    assert (attempt.outcome, attempt.reason.code, attempt.status) == (Outcome.PERMANENT, "insecure_endpoint", None)
    assert "https" in attempt.reason.text
    assert url_refusal("http://hooks.unit.example/x", plain_http_anywhere=True) is None
    assert url_refusal("https://hooks.unit.example/x", plain_http_anywhere=False) is None
    for loopback in ("http://127.0.0.1:8080/x", "http://localhost/x", "http://[::1]:9/x"):
        assert url_refusal(loopback, plain_http_anywhere=False) is None
    assert url_refusal("http://10.1.2.3/x", plain_http_anywhere=False) is not None


def test_an_endpoint_names_a_bad_secret_or_url() -> None:
    with pytest.raises(ValidationError) as bad_secret:
        WebhookEndpoint(url="https://hooks.unit.example/x", secret="not-a-secret")
    assert bad_secret.value.errors()[0]["loc"] == ("secret",)
    with pytest.raises(ValidationError) as short_key:
        WebhookEndpoint(url="https://hooks.unit.example/x", secret="whsec_" + "QUJD")
    assert "24" in str(short_key.value)
    with pytest.raises(ValidationError) as bad_url:
        WebhookEndpoint(url="ftp://hooks.unit.example/x", secret=new_webhook_secret())
    assert bad_url.value.errors()[0]["loc"] == ("url",)


async def test_secrets_stay_out_of_logs_and_attempts(
    receiver: Receiver, http: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    target = WebhookEndpoint(
        url=receiver.url + "/hooks/path-SECRET-9?token=tok-SECRET-123", secret=new_webhook_secret()
    )
    receiver.script.append(Answer(400, f"bad token tok-SECRET-123 at {target.url}"))  # a peer that echoes it back
    with caplog.at_level(logging.DEBUG):
        attempt = await WebhookChannel(http).send(MESSAGE, target, idempotency_key="ntf-10", now=SIMULATED)
    assert "HTTP Request: POST" in caplog.text  # the client's request log was captured, so the check below bites
    secret = target.secret.get_secret_value()
    for leak in ("tok-SECRET-123", "path-SECRET-9", secret, secret.removeprefix("whsec_")):
        assert leak not in caplog.text
        assert leak not in attempt.model_dump_json()
        assert leak not in repr(target)


async def test_a_key_that_cannot_be_a_header_is_a_programming_error(
    receiver: Receiver, http: httpx.AsyncClient
) -> None:
    with pytest.raises(ValueError, match="webhook-id"):
        await WebhookChannel(http).send(MESSAGE, endpoint(receiver), idempotency_key="通知 1", now=SIMULATED)
    assert receiver.received == []
