"""When to try a notification again, on which channel, and when to give up: the delivery schedule as rule data.

Pure: no I/O, the moment is passed in. The schedule is exponential backoff with jitter; the jitter is derived from
the notification's idempotency key and the attempt number rather than drawn at random, so that a decision taken
again after a crash (or by the next lease holder) gives the same time, and replicas spread their retries anyway.

A recipient's channels form a fallback chain (e.g. DingTalk -> e-mail): a permanent refusal moves to the next channel
at once, a channel that failed `fallback_after` times in a row is left for the next one, and after the last try the
notification is a dead letter with the reason.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, model_validator


class Outcome(StrEnum):
    """What one attempt on one channel came to (the channel's own classification of the peer's answer)."""

    DELIVERED = "delivered"
    RETRYABLE = "retryable"  # the peer is away, busy or answered 5xx/429: the same channel may work later
    PERMANENT = "permanent"  # the peer refused for good (bad address, 4xx): this channel will not work


class RetrySchedule(BaseModel):
    """Rule data: by default 6 attempts within about 6 minutes, the first retry after 10 s (+-20 %)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    max_attempts: int = Field(default=6, ge=1, le=50)
    first_delay_s: float = Field(default=10.0, gt=0, le=3600)
    factor: float = Field(default=2.0, ge=1.0, le=10.0)
    max_delay_s: float = Field(default=300.0, gt=0, le=86400)
    jitter: float = Field(default=0.2, ge=0.0, lt=1.0)  # each delay is moved by up to this fraction either way
    fallback_after: int = Field(default=3, ge=1, le=50)  # failures in a row on one channel before the next one
    retry_after_cap_s: float = Field(default=600.0, gt=0)  # a peer's Retry-After is followed up to this long

    @model_validator(mode="after")
    def _bounded(self) -> RetrySchedule:
        if self.first_delay_s > self.max_delay_s:
            raise ValueError("first_delay_s 不能大于 max_delay_s")
        return self

    def budget(self, channels: int) -> int:
        """Attempts a notification gets in all: every channel of the chain has its `fallback_after` turn."""
        return max(self.max_attempts, self.fallback_after * max(channels, 1))

    def delay(self, failures: int, key: str) -> timedelta:
        """The wait after the `failures`-th failure in a row on one channel (1-based), before the next try."""
        base = min(self.first_delay_s * self.factor ** (failures - 1), self.max_delay_s)
        spread = 2 * unit_interval(f"{key}|{failures}") - 1  # in [-1, 1)
        return timedelta(seconds=base * (1 + self.jitter * spread))


DEFAULT_SCHEDULE = RetrySchedule()


def unit_interval(text: str) -> float:
    """A number in [0, 1) that only depends on `text`."""
    digest = hashlib.sha256(text.encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


@dataclass(frozen=True)
class AttemptRecord:
    """One recorded attempt as the delivery decisions need it."""

    channel: str
    outcome: Outcome


@dataclass(frozen=True)
class NextStep:
    """What follows the attempts so far: try `channel` at `at`, or stop (delivered, or dead with `reason`)."""

    channel: str | None = None
    at: datetime | None = None
    delivered: bool = False
    dead_reason: str | None = None


def channel_turn(chain: Sequence[str], attempts: Sequence[AttemptRecord], schedule: RetrySchedule) -> tuple[int, int]:
    """(index in `chain` of the channel the next attempt uses, failures in a row on it so far); the index is
    len(chain) when every channel refused for good. The last channel keeps the rest of the budget: only a permanent
    refusal moves past it."""
    index = 0
    in_a_row = 0
    for record in attempts:
        if index >= len(chain) or record.channel != chain[index]:
            continue  # an attempt on a channel that left the chain since (preferences changed): not counted here
        in_a_row += 1
        last = index == len(chain) - 1
        if record.outcome is Outcome.PERMANENT or (
            record.outcome is Outcome.RETRYABLE and in_a_row >= schedule.fallback_after and not last
        ):
            index += 1
            in_a_row = 0
    return index, in_a_row


def next_step(
    *,
    chain: Sequence[str],
    attempts: Sequence[AttemptRecord],
    last_at: datetime | None,
    now: datetime,
    key: str,
    schedule: RetrySchedule,
    retry_after: timedelta | None = None,
) -> NextStep:
    """The next attempt after `attempts` (the last one made at `last_at`), or the end of the notification.

    A fallback to another channel goes at once; a retry on the same channel waits for the backoff, or for the
    peer's Retry-After when that is longer (capped by the rule).
    """
    if any(a.outcome is Outcome.DELIVERED for a in attempts):
        return NextStep(delivered=True)
    if not chain:
        return NextStep(dead_reason="收件方没有可用的接收渠道")
    if len(attempts) >= schedule.budget(len(chain)):
        return NextStep(dead_reason=f"已尝试 {len(attempts)} 次均未送达({_last(attempts)})")
    turn, in_a_row = channel_turn(chain, attempts, schedule)
    if turn >= len(chain):
        return NextStep(dead_reason=f"所有渠道均无法送达({_last(attempts)})")
    channel = chain[turn]
    if not attempts or last_at is None:
        return NextStep(channel=channel, at=now)
    if in_a_row == 0:
        return NextStep(channel=channel, at=last_at)  # falling back: the next channel at once
    wait = schedule.delay(in_a_row, key)
    if retry_after is not None:
        wait = max(wait, min(retry_after, timedelta(seconds=schedule.retry_after_cap_s)))
    return NextStep(channel=channel, at=last_at + wait)


def _last(attempts: Sequence[AttemptRecord]) -> str:
    if not attempts:
        return "无"
    last = attempts[-1]
    return f"最后一次:{last.channel} {last.outcome.value}"
