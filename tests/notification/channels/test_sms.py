"""SMS through the provider interface, with a local fake provider (issue 10 allows a fake for SMS only)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from services.notification.channels import ENDPOINT, Message, Outcome, ProviderAnswer, SmsEndpoint, Urgency
from services.notification.channels.sms import TEXT_LIMIT, SmsChannel, sms_text

NOW = datetime(2024, 6, 3, 1, 0, tzinfo=UTC)
MESSAGE = Message(
    title="逾期:主体封顶",
    body="**焦作市中心医院新院区**里程碑已逾期 5 个监测日。\n\n详见台账。",
    urgency=Urgency.HIGH,
    link="https://tiaodu.example/p/7",
)


@dataclass
class FakeProvider:
    """Records submissions and answers what the test scripts (a provider's real API is not what is tested here)."""

    answers: list[ProviderAnswer] = field(default_factory=list)
    submitted: list[tuple[str, str, str]] = field(default_factory=list)

    async def submit(self, *, mobile: str, text: str, idempotency_key: str) -> ProviderAnswer:
        self.submitted.append((mobile, text, idempotency_key))
        return self.answers.pop(0) if self.answers else ProviderAnswer(Outcome.DELIVERED, "delivered", 200, "OK")


async def test_a_short_text_goes_to_the_provider_with_the_key() -> None:
    provider = FakeProvider()
    attempt = await SmsChannel(provider).send(
        MESSAGE, SmsEndpoint(mobile="+86 138-0000-1111"), idempotency_key="ntf-1.sms", now=NOW
    )
    assert (attempt.channel, attempt.outcome, attempt.status, attempt.response) == ("sms", Outcome.DELIVERED, 200, "OK")
    [(mobile, text, key)] = provider.submitted
    assert (mobile, key) == ("13800001111", "ntf-1.sms")
    assert text == "【重要】逾期:主体封顶:焦作市中心医院新院区里程碑已逾期 5 个监测日。 https://tiaodu.example/p/7"


def test_a_long_text_is_cut_but_the_link_kept() -> None:
    text = sms_text(MESSAGE.model_copy(update={"body": "很长" * 200}))
    assert len(text) == TEXT_LIMIT and text.endswith("… https://tiaodu.example/p/7")


async def test_the_providers_verdict_is_the_outcome() -> None:
    provider = FakeProvider([ProviderAnswer(Outcome.RETRYABLE, "peer_rate_limited", 429, "busy", retry_after_s=60.0)])
    attempt = await SmsChannel(provider).send(MESSAGE, SmsEndpoint(mobile="13800001111"), idempotency_key="k", now=NOW)
    assert (attempt.outcome, attempt.reason.code, attempt.retry_after_s) == (Outcome.RETRYABLE, "peer_rate_limited", 60)


async def test_without_a_provider_sms_is_a_permanent_failure_not_a_silent_success() -> None:
    attempt = await SmsChannel(None).send(MESSAGE, SmsEndpoint(mobile="13800001111"), idempotency_key="k", now=NOW)
    assert (attempt.outcome, attempt.reason.code, attempt.reason.text) == (
        Outcome.PERMANENT, "sms_not_configured", "未配置短信服务商"
    )  # fmt: skip


def test_a_mobile_number_is_checked() -> None:
    with pytest.raises(ValidationError) as bad:
        ENDPOINT.validate_python({"kind": "sms", "mobile": "12345"})
    assert bad.value.errors()[0]["loc"] == ("sms", "mobile")
