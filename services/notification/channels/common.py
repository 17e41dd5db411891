"""What every channel shares: the message, the attempt it answers with, the outcomes and their reasons.

A channel never raises for what a peer did (refused, timed out, answered garbage): that is an outcome the delivery
engine records and acts on (retry, fall back, dead-letter). It does raise for programming errors.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol, TypeVar

from pydantic import BaseModel, ConfigDict, Field

RESPONSE_LIMIT = 500  # characters of a peer's answer kept in an attempt (attempts are recorded in events)


class Urgency(StrEnum):
    LOW = "low"
    NORMAL = "normal"
    HIGH = "high"
    CRITICAL = "critical"


URGENCY_LABELS = {Urgency.LOW: "", Urgency.NORMAL: "", Urgency.HIGH: "【重要】", Urgency.CRITICAL: "【紧急】"}


class Mentions(BaseModel):
    """Who a group robot should @: by mobile number, by the robot platform's user id, or everyone in the group."""

    model_config = ConfigDict(frozen=True)

    mobiles: tuple[str, ...] = ()
    user_ids: tuple[str, ...] = ()
    everyone: bool = False

    def __bool__(self) -> bool:
        return bool(self.mobiles or self.user_ids or self.everyone)


class Message(BaseModel):
    """One notification as every channel renders it. `body` may be markdown; `data` reaches webhook receivers only."""

    model_config = ConfigDict(frozen=True)

    title: str = Field(min_length=1, max_length=200)
    body: str = Field(max_length=8000)
    urgency: Urgency = Urgency.NORMAL
    link: str | None = None
    mentions: Mentions = Mentions()
    topic: str = "notification"  # what happened, e.g. "issue.escalated"; the webhook payload's `type`
    data: dict[str, Any] = Field(default_factory=dict)

    @property
    def labelled_title(self) -> str:
        return f"{URGENCY_LABELS[self.urgency]}{self.title}"


class Outcome(StrEnum):
    DELIVERED = "delivered"
    RETRYABLE = "retryable"  # try again later (rate limited, peer down, timeout)
    PERMANENT = "permanent"  # trying again will not help (refused, misconfigured endpoint)


# Reason code (stable, English, for machines and filters) -> what hq reads in the delivery log.
REASONS: dict[str, str] = {
    "delivered": "已送达",
    "insecure_endpoint": "地址须使用 https(http 仅限本机回环地址或开发环境)",
    "private_endpoint": "地址指向内网、本机或保留地址,且不在允许的网段内(TIAODU_WEBHOOK_ALLOWED_NETWORKS)",
    "peer_rate_limited": "对方限流,稍后重试",
    "peer_unavailable": "对方服务暂不可用",
    "peer_timeout": "对方响应超时",
    "peer_unreachable": "无法连接对方",
    "peer_rejected": "对方拒收",
    "redirect_not_followed": "对方要求重定向,平台不跟随",
    "unexpected_answer": "对方应答无法识别",
    "robot_busy": "机器人服务繁忙",
    "robot_rejected": "机器人拒收(签名、关键词或地址有误)",
    "smtp_temporary": "邮件服务器暂时拒收",
    "smtp_rejected": "邮件服务器拒收",
    "smtp_unreachable": "无法连接邮件服务器",
    "smtp_auth_failed": "邮件服务器认证失败",
    "smtp_unsupported": "邮件服务器不支持所需功能(STARTTLS 或认证)",
    "smtp_tls_failed": "与邮件服务器的 TLS 连接失败(证书或协议)",
    "sms_not_configured": "未配置短信服务商",
    "sms_rejected": "短信服务商拒收(号码、模板或签名有误)",
}


class Reason(BaseModel):
    model_config = ConfigDict(frozen=True)

    code: str
    text: str


def reason(code: str) -> Reason:
    return Reason(code=code, text=REASONS[code])  # KeyError: a code without its Chinese text is a programming error


class Attempt(BaseModel):
    """One try on one channel, as the delivery log records it (no secrets: endpoints are not part of it)."""

    model_config = ConfigDict(frozen=True)

    channel: str
    idempotency_key: str
    attempted_at: datetime
    outcome: Outcome
    reason: Reason
    status: int | None = None  # the peer's HTTP status or SMTP reply code (a robot's errcode is in `response`)
    response: str = ""  # the peer's answer, truncated
    latency_ms: float = 0.0  # talking to the peer
    queued_ms: float = 0.0  # waiting for the robot's rate limit before that
    retry_after_s: float | None = None  # what the peer asked for (Retry-After), if it did


@dataclass(frozen=True)
class Recorder:
    """Makes the attempts of one send: the peer's answer truncated and cleared of every secret the endpoint holds
    (a robot may echo its URL, an exception may name it)."""

    channel: str
    idempotency_key: str
    now: datetime
    secrets: tuple[str, ...] = ()

    def __call__(self, outcome: Outcome, code: str, *, response: str = "", **fields: Any) -> Attempt:
        return Attempt(
            channel=self.channel,
            idempotency_key=self.idempotency_key,
            attempted_at=self.now,
            outcome=outcome,
            reason=reason(code),
            response=truncate(scrub(response, self.secrets)),
            **fields,
        )


def truncate(text: str, limit: int = RESPONSE_LIMIT) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def truncate_utf8(text: str, limit: int) -> str:
    """At most `limit` bytes of UTF-8, cut on a character boundary (robots count bytes, not characters)."""
    encoded = text.encode()
    if len(encoded) <= limit:
        return text
    return encoded[: limit - 3].decode(errors="ignore") + "…"


def scrub(text: str, secrets: Iterable[str]) -> str:
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text


class Stopwatch:
    """Elapsed time for latency figures: a monotonic interval, not the platform's (possibly simulated) clock."""

    def __init__(self) -> None:
        self._start = time.perf_counter()

    @property
    def ms(self) -> float:
        return round((time.perf_counter() - self._start) * 1000, 3)


E_contra = TypeVar("E_contra", contravariant=True)


class Channel(Protocol[E_contra]):
    """Sends one message to one endpoint. `idempotency_key` is what the receiver drops duplicates by; `now` is the
    platform clock's time of the attempt (signatures and timestamps use it)."""

    name: str

    async def send(self, message: Message, endpoint: E_contra, *, idempotency_key: str, now: datetime) -> Attempt: ...
