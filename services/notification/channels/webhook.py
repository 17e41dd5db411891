"""Webhooks into a unit's own system, signed as the Standard Webhooks specification says, so that receivers verify
with an existing library (standardwebhooks, svix, ...) and drop duplicates by `webhook-id`."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
from datetime import datetime
from typing import Any, Literal

import httpx
from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

from services.notification.channels.common import Attempt, Message, Outcome, Recorder, Stopwatch
from services.notification.channels.http_peer import (
    TIMEOUT,
    endpoint_refusal,
    install_log_redaction,
    post,
    retry_after_seconds,
    status_verdict,
    transport_code,
    url_secrets,
)
from services.notification.channels.network_guard import NetworkGuard

SECRET_PREFIX = "whsec_"


def new_webhook_secret() -> str:
    """A fresh per-endpoint secret in the specification's form: whsec_ + base64 of 32 random bytes."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def secret_key(secret: str) -> bytes:
    """The HMAC key inside a `whsec_...` secret; ValueError when it is not one (the specification: 24-64 bytes)."""
    if not secret.startswith(SECRET_PREFIX):
        raise ValueError("须以 whsec_ 开头 (must start with whsec_)")
    try:
        key = base64.b64decode(secret.removeprefix(SECRET_PREFIX), validate=True)
    except binascii.Error as exc:
        raise ValueError("whsec_ 之后须为 base64 (base64 expected after whsec_)") from exc
    if not 24 <= len(key) <= 64:
        raise ValueError("密钥须为 24 至 64 字节 (the key must be 24 to 64 bytes)")
    return key


class WebhookEndpoint(BaseModel):
    model_config = ConfigDict(frozen=True)

    kind: Literal["webhook"] = "webhook"
    url: str = Field(repr=False)  # may carry the receiver's own token in its query
    secret: SecretStr

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if httpx.URL(value).scheme not in ("http", "https"):
            raise ValueError("须为 http(s) 地址 (an http(s) URL is required)")
        return value

    @field_validator("secret")
    @classmethod
    def _whsec(cls, value: SecretStr) -> SecretStr:
        secret_key(value.get_secret_value())
        return value


def signature(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    signed = f"{msg_id}.{timestamp}.".encode() + body
    digest = hmac.new(secret_key(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def payload(message: Message, now: datetime) -> dict[str, Any]:
    """The specification's recommended shape: type, timestamp, data."""
    return {
        "type": message.topic,
        "timestamp": now.isoformat(),
        "data": {
            "title": message.title,
            "body": message.body,
            "urgency": message.urgency.value,
            "link": message.link,
            "details": message.data,
        },
    }


class WebhookChannel:
    name = "webhook"

    def __init__(
        self,
        http: httpx.AsyncClient,
        *,
        plain_http_anywhere: bool = False,
        network_guard: NetworkGuard | None = None,
        timeout: httpx.Timeout = TIMEOUT,
    ) -> None:
        """`plain_http_anywhere` is the development flag: http:// to any host, not only loopback. `network_guard`
        (outside development) refuses hosts resolving to private addresses."""
        install_log_redaction()
        self._http = http
        self._timeout = timeout
        self._plain_http_anywhere = plain_http_anywhere
        self._guard = network_guard

    async def send(
        self, message: Message, endpoint: WebhookEndpoint, *, idempotency_key: str, now: datetime
    ) -> Attempt:
        if not idempotency_key.isascii() or not idempotency_key.isprintable() or " " in idempotency_key:
            raise ValueError(f"webhook-id must be printable ASCII without spaces: {idempotency_key!r}")
        secret = endpoint.secret.get_secret_value()
        record = Recorder(self.name, idempotency_key, now, (secret, *url_secrets(endpoint.url)))
        refused = await endpoint_refusal(endpoint.url, plain_http_anywhere=self._plain_http_anywhere, guard=self._guard)
        if refused is not None:
            return record(Outcome.PERMANENT, refused[0], response=refused[1])
        body = json.dumps(payload(message, now), ensure_ascii=False, separators=(",", ":")).encode()
        timestamp = int(now.timestamp())
        headers = {
            "content-type": "application/json",
            "webhook-id": idempotency_key,
            "webhook-timestamp": str(timestamp),
            "webhook-signature": signature(secret, idempotency_key, timestamp, body),
        }
        watch = Stopwatch()
        try:
            answer = await post(self._http, endpoint.url, content=body, headers=headers, timeout=self._timeout)
        except httpx.RequestError as exc:
            detail = f"{type(exc).__name__}: {exc}"
            return record(Outcome.RETRYABLE, transport_code(exc), response=detail, latency_ms=watch.ms)
        verdict = status_verdict(answer.status)
        retry_after = retry_after_seconds(answer.headers.get("retry-after"), now)
        return record(
            verdict.outcome,
            verdict.code,
            status=answer.status,
            response=answer.text,
            latency_ms=watch.ms,
            retry_after_s=retry_after if verdict.outcome is Outcome.RETRYABLE else None,
        )
