"""钉钉 (DingTalk) custom group robot: a markdown message with at-mentions, to a URL signed as DingTalk documents it
(加签: `timestamp` in milliseconds and `sign` = URL-encoded base64 of HMAC-SHA256 over "timestamp\\nsecret", keyed by
the secret). DingTalk answers HTTP 200 with `errcode`: 0 sent, 130101 sending too fast, anything else refused."""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import datetime
from typing import Any, Literal
from urllib.parse import quote_plus

import httpx
from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

from services.notification.channels.common import Attempt, Message, Recorder, truncate_utf8
from services.notification.channels.http_peer import url_secrets
from services.notification.channels.robot import RobotPoster

RETRYABLE_ERRCODES = {130101: "peer_rate_limited", -1: "robot_busy"}  # -1: 系统繁忙
BODY_LIMIT = 16_000  # bytes of the body in the markdown text (DingTalk takes about 20,000), leaving room for the rest


class DingTalkRobot(BaseModel):
    model_config = ConfigDict(frozen=True)

    kind: Literal["dingtalk"] = "dingtalk"
    url: str = Field(repr=False)  # https://oapi.dingtalk.com/robot/send?access_token=...: the token is a credential
    secret: SecretStr | None = None  # SEC...: the robot's 加签 secret (a robot may use keywords or IPs instead)

    @field_validator("url")
    @classmethod
    def _has_token(cls, value: str) -> str:
        parsed = httpx.URL(value)
        if parsed.scheme not in ("http", "https") or not parsed.params.get("access_token"):
            raise ValueError("须为带 access_token 的钉钉机器人地址 (a robot URL with access_token is required)")
        return value


def sign(secret: str, timestamp_ms: int) -> str:
    """The base64 signature, before URL encoding."""
    digest = hmac.new(secret.encode(), f"{timestamp_ms}\n{secret}".encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def signed_url(url: str, secret: str | None, at: datetime) -> str:
    if secret is None:
        return url
    timestamp_ms = int(at.timestamp() * 1000)
    return f"{url}&timestamp={timestamp_ms}&sign={quote_plus(sign(secret, timestamp_ms))}"


def body(message: Message) -> dict[str, Any]:
    lines = [f"#### {message.labelled_title}", "", truncate_utf8(message.body, BODY_LIMIT)]
    if message.link:
        lines += ["", f"[查看详情]({message.link})"]
    mentions = message.mentions
    if mentions:  # DingTalk highlights an @ only when the text names it too
        tags = [f"@{who}" for who in (*mentions.mobiles, *mentions.user_ids)] + (
            ["@所有人"] if mentions.everyone else []
        )
        lines += ["", " ".join(tags)]
    return {
        "msgtype": "markdown",
        "markdown": {"title": message.labelled_title, "text": "\n".join(lines)},
        "at": {
            "atMobiles": list(mentions.mobiles),
            "atUserIds": list(mentions.user_ids),
            "isAtAll": mentions.everyone,
        },
    }


class DingTalkChannel:
    name = "dingtalk"

    def __init__(self, poster: RobotPoster) -> None:
        self._poster = poster

    async def send(self, message: Message, endpoint: DingTalkRobot, *, idempotency_key: str, now: datetime) -> Attempt:
        secret = endpoint.secret.get_secret_value() if endpoint.secret else None
        hidden = (*url_secrets(endpoint.url), *([secret] if secret else []))
        return await self._poster.deliver(
            Recorder(self.name, idempotency_key, now, hidden),
            url=endpoint.url,
            sign=lambda url, at: signed_url(url, secret, at),
            body=body(message),
            retryable_errcodes=RETRYABLE_ERRCODES,
        )
