"""What the DingTalk and WeCom group robots share: a JSON POST to a URL that is itself the credential, an answer that
is HTTP 200 with an `errcode`, and the per-robot rate limit. Robots know no idempotency key: a retry after an
ambiguous outcome (a timeout) may show a message twice in the group, which at-least-once accepts."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

import httpx

from services.notification.channels.common import Attempt, Outcome, Recorder, Stopwatch
from services.notification.channels.http_peer import (
    TIMEOUT,
    endpoint_refusal,
    install_log_redaction,
    post,
    retry_after_seconds,
    status_verdict,
    transport_code,
)
from services.notification.channels.network_guard import NetworkGuard
from services.notification.channels.rate_limit import RobotRateLimiter, robot_key


class RobotPoster:
    def __init__(
        self,
        http: httpx.AsyncClient,
        limiter: RobotRateLimiter,
        *,
        plain_http_anywhere: bool = False,
        network_guard: NetworkGuard | None = None,
        timeout: httpx.Timeout = TIMEOUT,
    ) -> None:
        install_log_redaction()
        self._http = http
        self._limiter = limiter
        self._plain_http_anywhere = plain_http_anywhere
        self._guard = network_guard
        self._timeout = timeout

    async def deliver(
        self,
        record: Recorder,
        *,
        url: str,
        sign: Callable[[str, datetime], str],
        body: dict[str, Any],
        retryable_errcodes: Mapping[int, str],
    ) -> Attempt:
        """Queue for the robot's turn, sign the URL at the time it actually goes (`sign(url, at)`), post, judge."""
        refused = await endpoint_refusal(url, plain_http_anywhere=self._plain_http_anywhere, guard=self._guard)
        if refused is not None:
            return record(Outcome.PERMANENT, refused[0], response=refused[1])
        queue = Stopwatch()
        waited = await self._limiter.acquire(robot_key(url))
        queued_ms = queue.ms
        content = json.dumps(body, ensure_ascii=False).encode()
        headers = {"content-type": "application/json; charset=utf-8"}
        watch = Stopwatch()
        try:
            answer = await post(
                self._http, sign(url, record.now + waited), content=content, headers=headers, timeout=self._timeout
            )
        except httpx.RequestError as exc:
            detail = f"{type(exc).__name__}: {exc}"
            return record(
                Outcome.RETRYABLE, transport_code(exc), response=detail, latency_ms=watch.ms, queued_ms=queued_ms
            )
        latency_ms = watch.ms

        def judged(outcome: Outcome, code: str, retry_after_s: float | None = None) -> Attempt:
            return record(
                outcome,
                code,
                status=answer.status,
                response=answer.text,
                latency_ms=latency_ms,
                queued_ms=queued_ms,
                retry_after_s=retry_after_s,
            )

        verdict = status_verdict(answer.status)
        if verdict.outcome is Outcome.RETRYABLE:
            return judged(
                verdict.outcome, verdict.code, retry_after_seconds(answer.headers.get("retry-after"), record.now)
            )
        if verdict.outcome is Outcome.PERMANENT:
            return judged(verdict.outcome, verdict.code)
        errcode = _errcode(answer.text)
        if errcode is None:
            return judged(Outcome.PERMANENT, "unexpected_answer")
        if errcode == 0:
            return judged(Outcome.DELIVERED, "delivered")
        if code := retryable_errcodes.get(errcode):
            return judged(Outcome.RETRYABLE, code)
        return judged(Outcome.PERMANENT, "robot_rejected")


def _errcode(text: str) -> int | None:
    try:
        answer = json.loads(text)
    except ValueError:
        return None
    code = answer.get("errcode") if isinstance(answer, dict) else None
    return code if isinstance(code, int) and not isinstance(code, bool) else None
