"""HTTP plumbing the webhook and the robots share: which URLs may be called, how an answer maps to an outcome, and
keeping the secrets that robot URLs carry in their query (access_token, key, sign) out of the logs."""

from __future__ import annotations

import ipaddress
import logging
from dataclasses import dataclass
from datetime import datetime
from email.utils import parsedate_to_datetime

import httpx

from services.notification.channels.common import Outcome
from services.notification.channels.network_guard import NetworkGuard

TIMEOUT = httpx.Timeout(10.0, connect=5.0)
ANSWER_LIMIT = 8192  # bytes of a peer's answer read; robots answer a few dozen


def http_client() -> httpx.AsyncClient:
    """The client a composition root hands to the HTTP channels: redirects are answers, never followed (a
    redirect would carry the signed body somewhere the organisation never registered)."""
    install_log_redaction()
    return httpx.AsyncClient(timeout=TIMEOUT, follow_redirects=False)


def is_loopback(host: str) -> bool:
    if host.lower() in ("localhost", "localhost."):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def url_refusal(url: str, *, plain_http_anywhere: bool) -> str | None:
    """Why the platform will not call `url`, or None. https always; http on loopback, or anywhere with the
    explicit development flag; nothing else."""
    parsed = httpx.URL(url)
    if parsed.scheme == "https" and parsed.host:
        return None
    if parsed.scheme == "http" and parsed.host and (plain_http_anywhere or is_loopback(parsed.host)):
        return None
    return f"scheme {parsed.scheme or '(none)'} to host {parsed.host or '(none)'} refused: https is required"


async def endpoint_refusal(
    url: str, *, plain_http_anywhere: bool, guard: NetworkGuard | None
) -> tuple[str, str] | None:
    """(reason code, why) when the platform will not call `url` now: its scheme, or (with a guard, outside
    development) where its host resolves to."""
    if refusal := url_refusal(url, plain_http_anywhere=plain_http_anywhere):
        return "insecure_endpoint", refusal
    if guard is not None:
        parsed = httpx.URL(url)
        port = parsed.port or (443 if parsed.scheme == "https" else 80)
        if refusal := await guard.resolved_refusal(parsed.host, port):
            return "private_endpoint", refusal
    return None


def retry_after_seconds(value: str | None, now: datetime) -> float | None:
    """Retry-After as delta-seconds or an HTTP date (RFC 9110 10.2.3), relative to the platform clock."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, (when - now).total_seconds())


@dataclass(frozen=True)
class StatusVerdict:
    outcome: Outcome
    code: str


def status_verdict(status: int) -> StatusVerdict:
    """2xx delivered; 429 and 5xx retryable; 3xx (not followed) and other 4xx permanent."""
    if 200 <= status < 300:
        return StatusVerdict(Outcome.DELIVERED, "delivered")
    if status == 429:
        return StatusVerdict(Outcome.RETRYABLE, "peer_rate_limited")
    if status >= 500:
        return StatusVerdict(Outcome.RETRYABLE, "peer_unavailable")
    if 300 <= status < 400:
        return StatusVerdict(Outcome.PERMANENT, "redirect_not_followed")
    return StatusVerdict(Outcome.PERMANENT, "peer_rejected")


def transport_code(exc: httpx.RequestError) -> str:
    """Every failure below an HTTP answer is retryable; the code tells hq which kind it was."""
    if isinstance(exc, httpx.TimeoutException):
        return "peer_timeout"
    if isinstance(exc, httpx.ConnectError):
        return "peer_unreachable"
    return "unexpected_answer"  # the connection broke mid-answer, or the answer could not be decoded


@dataclass(frozen=True)
class PeerAnswer:
    status: int
    headers: httpx.Headers
    text: str


async def post(
    http: httpx.AsyncClient, url: str, *, content: bytes, headers: dict[str, str], timeout: httpx.Timeout = TIMEOUT
) -> PeerAnswer:
    """POST and read at most ANSWER_LIMIT bytes of the answer: a peer's answer is recorded, not trusted in size."""
    async with http.stream("POST", url, content=content, headers=headers, timeout=timeout) as response:
        received = bytearray()
        async for chunk in response.aiter_bytes():
            received += chunk
            if len(received) >= ANSWER_LIMIT:
                break
        text = bytes(received[:ANSWER_LIMIT]).decode(response.encoding or "utf-8", errors="replace")
        return PeerAnswer(response.status_code, response.headers, text)


def url_secrets(url: str) -> tuple[str, ...]:
    """What of a URL must never reach a log or an attempt: the URL itself, its password, its query values (a
    robot's access_token or key, a receiver's own token)."""
    parsed = httpx.URL(url)
    values = [value for _, value in parsed.params.multi_items() if len(value) >= 6]
    password = [parsed.password] if parsed.password else []
    return (url, *values, *password)


def redacted(url: httpx.URL | str) -> str:
    """scheme://host[:port]/…: the query (robot tokens, signatures), user info and path (receivers put tokens
    there too, hooks/<token>) dropped."""
    parsed = httpx.URL(str(url))
    port = f":{parsed.port}" if parsed.port else ""
    return f"{parsed.scheme}://{parsed.host}{port}/…"


class _RedactRequestUrls(logging.Filter):
    """httpx logs every request's full URL at INFO; a robot's URL is its credential."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(redacted(arg) if isinstance(arg, httpx.URL) else arg for arg in record.args)
        return True


_REDACTION = _RedactRequestUrls()


def install_log_redaction() -> None:
    logger = logging.getLogger("httpx")
    if _REDACTION not in logger.filters:
        logger.addFilter(_REDACTION)
