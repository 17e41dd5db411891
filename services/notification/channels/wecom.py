"""企业微信 (WeCom) group robot: the key in the URL is the credential. A markdown message normally (user ids
mentioned as `<@userid>` in it); WeCom's markdown cannot @ by mobile number or @all, so a message that must do so
goes as text with `mentioned_list` / `mentioned_mobile_list`. Answers are HTTP 200 with `errcode`: 0 sent, 45009
over the rate limit, anything else refused."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

import httpx
from pydantic import BaseModel, ConfigDict, Field, field_validator

from services.notification.channels.common import Attempt, Message, Recorder, truncate_utf8
from services.notification.channels.http_peer import url_secrets
from services.notification.channels.robot import RobotPoster

RETRYABLE_ERRCODES = {45009: "peer_rate_limited", -1: "robot_busy"}  # -1: 系统繁忙
MARKDOWN_LIMIT = 4096  # bytes, as WeCom documents
TEXT_LIMIT = 2048


class WeComRobot(BaseModel):
    model_config = ConfigDict(frozen=True)

    kind: Literal["wecom"] = "wecom"
    url: str = Field(repr=False)  # https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=...: the key is a credential

    @field_validator("url")
    @classmethod
    def _has_key(cls, value: str) -> str:
        parsed = httpx.URL(value)
        if parsed.scheme not in ("http", "https") or not parsed.params.get("key"):
            raise ValueError("须为带 key 的企业微信机器人地址 (a robot URL with key is required)")
        return value


def body(message: Message) -> dict[str, Any]:
    mentions = message.mentions
    link = f"\n[查看详情]({message.link})" if message.link else ""
    if mentions.mobiles or mentions.everyone:
        link = f"\n查看详情:{message.link}" if message.link else ""
        head = f"{message.labelled_title}\n"
        content = head + truncate_utf8(message.body, TEXT_LIMIT - len((head + link).encode()) - 8) + link
        everyone = ["@all"] if mentions.everyone else []
        return {
            "msgtype": "text",
            "text": {
                "content": content,
                "mentioned_list": [*mentions.user_ids, *everyone],
                "mentioned_mobile_list": list(mentions.mobiles),
            },
        }
    head = f"### {message.labelled_title}\n"
    tags = "\n" + " ".join(f"<@{user_id}>" for user_id in mentions.user_ids) if mentions.user_ids else ""
    room = MARKDOWN_LIMIT - len((head + link + tags).encode()) - 8
    return {"msgtype": "markdown", "markdown": {"content": head + truncate_utf8(message.body, room) + link + tags}}


class WeComChannel:
    name = "wecom"

    def __init__(self, poster: RobotPoster) -> None:
        self._poster = poster

    async def send(self, message: Message, endpoint: WeComRobot, *, idempotency_key: str, now: datetime) -> Attempt:
        return await self._poster.deliver(
            Recorder(self.name, idempotency_key, now, url_secrets(endpoint.url)),
            url=endpoint.url,
            sign=lambda url, at: url,  # the key in the URL is all WeCom asks
            body=body(message),
            retryable_errcodes=RETRYABLE_ERRCODES,
        )
