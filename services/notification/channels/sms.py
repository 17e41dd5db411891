"""SMS through a provider interface (issue 10's optional channel). Mainland providers (Aliyun, Tencent Cloud) send only
pre-approved templates under a registered signature, each with its own API; a deployment plugs its provider in
behind `SmsProvider`. The channel renders a short text, times the call and records the provider's answer; without a
provider an SMS endpoint is a permanent `sms_not_configured`, never a silent success."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Literal, Protocol

from pydantic import BaseModel, ConfigDict, field_validator

from services.notification.channels.common import Attempt, Message, Outcome, Recorder, Stopwatch

TEXT_LIMIT = 140  # characters: two concatenated segments of 70 Chinese characters
_MOBILE = re.compile(r"(?:\+?86)?(1[3-9]\d{9})")
_MARKUP = re.compile(r"[*#>`_\[\]]")


class SmsEndpoint(BaseModel):
    model_config = ConfigDict(frozen=True)

    kind: Literal["sms"] = "sms"
    mobile: str

    @field_validator("mobile")
    @classmethod
    def _mainland_mobile(cls, value: str) -> str:
        match = _MOBILE.fullmatch(value.replace(" ", "").replace("-", ""))
        if not match:
            raise ValueError("须为 11 位中国大陆手机号 (an 11-digit mainland mobile number is required)")
        return match[1]


@dataclass(frozen=True)
class ProviderAnswer:
    """What a provider made of one submission; `code` is one of common.REASONS."""

    outcome: Outcome
    code: str
    status: int | None = None
    response: str = ""
    retry_after_s: float | None = None


class SmsProvider(Protocol):
    """Submits one text; answers every failure of its peer as a ProviderAnswer (never raises for it) and passes
    `idempotency_key` on where its API takes one (an out-id / session context)."""

    async def submit(self, *, mobile: str, text: str, idempotency_key: str) -> ProviderAnswer: ...


def sms_text(message: Message) -> str:
    """Title, then as much of the body's first line as fits, then the link (never cut)."""
    link = f" {message.link}" if message.link else ""
    first_line = _MARKUP.sub("", message.body.strip().split("\n", 1)[0]).strip()
    head = message.labelled_title + (f":{first_line}" if first_line else "")
    room = TEXT_LIMIT - len(link)
    if len(head) > room:
        head = head[: room - 1] + "…"
    return head + link


class SmsChannel:
    name = "sms"

    def __init__(self, provider: SmsProvider | None) -> None:
        self._provider = provider

    async def send(self, message: Message, endpoint: SmsEndpoint, *, idempotency_key: str, now: datetime) -> Attempt:
        record = Recorder(self.name, idempotency_key, now)
        if self._provider is None:
            return record(Outcome.PERMANENT, "sms_not_configured")
        watch = Stopwatch()
        answer = await self._provider.submit(
            mobile=endpoint.mobile, text=sms_text(message), idempotency_key=idempotency_key
        )
        return record(
            answer.outcome,
            answer.code,
            status=answer.status,
            response=answer.response,
            latency_ms=watch.ms,
            retry_after_s=answer.retry_after_s,
        )
