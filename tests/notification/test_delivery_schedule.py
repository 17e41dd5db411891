"""The delivery schedule (retry_policy) and quiet hours as pure decisions: backoff, jitter, fallback, dead letters."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, time, timedelta

import pytest
from pydantic import ValidationError

from services.notification.quiet_hours import QuietHours, held_until
from services.notification.retry_policy import (
    DEFAULT_SCHEDULE,
    AttemptRecord,
    Outcome,
    RetrySchedule,
    next_step,
)

T0 = datetime(2024, 3, 1, 2, 0, tzinfo=UTC)  # 10:00 China time
KEY = "ntf-0001"


def play(chain: list[str], outcomes: list[Outcome], schedule: RetrySchedule = DEFAULT_SCHEDULE) -> list[tuple]:
    """Run the schedule against a peer answering `outcomes` in turn; the (channel, at) of each try and the end."""
    attempts: list[AttemptRecord] = []
    now, tries = T0, []
    for outcome in outcomes:
        step = next_step(chain=chain, attempts=attempts, last_at=now if attempts else None, now=now, key=KEY,
                         schedule=schedule)  # fmt: skip
        if step.channel is None:
            break
        assert step.at is not None
        now = step.at
        tries.append((step.channel, now))
        attempts.append(AttemptRecord(step.channel, outcome))
    end = next_step(chain=chain, attempts=attempts, last_at=now, now=now, key=KEY, schedule=schedule)
    return [*tries, end]


def test_default_schedule_gives_at_least_five_tries_within_ten_minutes_first_retry_within_15s() -> None:
    *tries, end = play(["webhook"], [Outcome.RETRYABLE] * 20)
    assert len(tries) >= 5
    assert tries[1][1] - tries[0][1] <= timedelta(seconds=15)
    assert tries[-1][1] - tries[0][1] <= timedelta(minutes=10)
    gaps = [b[1] - a[1] for a, b in itertools.pairwise(tries)]
    assert all(later > earlier for earlier, later in itertools.pairwise(gaps)), gaps  # exponential
    assert end.dead_reason is not None and "6 次" in end.dead_reason


def test_jitter_is_stable_per_key_and_differs_between_keys() -> None:
    a = DEFAULT_SCHEDULE.delay(2, "ntf-a")
    assert a == DEFAULT_SCHEDULE.delay(2, "ntf-a")
    assert len({DEFAULT_SCHEDULE.delay(2, f"ntf-{i}") for i in range(20)}) > 10
    assert all(
        timedelta(seconds=16) <= DEFAULT_SCHEDULE.delay(2, f"ntf-{i}") <= timedelta(seconds=24) for i in range(50)
    )


def test_a_failing_channel_falls_back_to_the_next_at_once_and_the_next_gets_its_turn() -> None:
    *tries, end = play(["dingtalk", "email"], [Outcome.RETRYABLE] * 3 + [Outcome.DELIVERED])
    assert [c for c, _ in tries] == ["dingtalk"] * 3 + ["email"]
    assert tries[3][1] == tries[2][1]  # no wait before the fallback
    assert end.delivered


def test_a_permanent_refusal_moves_on_without_retrying_and_the_last_channel_keeps_the_budget() -> None:
    *tries, end = play(["webhook", "email"], [Outcome.PERMANENT] + [Outcome.RETRYABLE] * 20)
    assert [c for c, _ in tries] == ["webhook"] + ["email"] * 5
    assert end.dead_reason is not None


def test_every_channel_refusing_for_good_is_a_dead_letter_with_the_reason() -> None:
    *tries, end = play(["webhook", "email"], [Outcome.PERMANENT, Outcome.PERMANENT])
    assert len(tries) == 2
    assert end.dead_reason is not None and "所有渠道" in end.dead_reason and "email permanent" in end.dead_reason
    assert next_step(chain=[], attempts=[], last_at=None, now=T0, key=KEY, schedule=DEFAULT_SCHEDULE).dead_reason


def test_retry_after_is_followed_up_to_the_cap() -> None:
    attempts = [AttemptRecord("webhook", Outcome.RETRYABLE)]
    step = next_step(chain=["webhook"], attempts=attempts, last_at=T0, now=T0, key=KEY, schedule=DEFAULT_SCHEDULE,
                     retry_after=timedelta(seconds=90))  # fmt: skip
    assert step.at == T0 + timedelta(seconds=90)
    step = next_step(chain=["webhook"], attempts=attempts, last_at=T0, now=T0, key=KEY, schedule=DEFAULT_SCHEDULE,
                     retry_after=timedelta(days=2))  # fmt: skip
    assert step.at == T0 + timedelta(seconds=DEFAULT_SCHEDULE.retry_after_cap_s)


def test_schedule_rule_data_is_validated() -> None:
    with pytest.raises(ValidationError):
        RetrySchedule(first_delay_s=500, max_delay_s=100)
    with pytest.raises(ValidationError):
        RetrySchedule(max_attempts=0)


def test_quiet_hours_across_midnight_hold_until_their_end_in_china_time_and_critical_goes_through() -> None:
    quiet = QuietHours(time(22, 0), time(7, 0))
    late = datetime(2024, 3, 1, 15, 30, tzinfo=UTC)  # 23:30 China time
    assert held_until(quiet, "normal", late) == datetime(2024, 3, 1, 23, 0, tzinfo=UTC)  # 07:00 next day
    early = datetime(2024, 3, 1, 21, 0, tzinfo=UTC)  # 05:00 China time on 2 March
    assert held_until(quiet, "normal", early) == datetime(2024, 3, 1, 23, 0, tzinfo=UTC)
    assert held_until(quiet, "critical", late) is None
    assert held_until(quiet, "normal", T0) is None  # 10:00
    assert held_until(QuietHours(time(12, 0), time(14, 0)), "normal", datetime(2024, 3, 1, 5, tzinfo=UTC)) == datetime(
        2024, 3, 1, 6, tzinfo=UTC
    )
    assert held_until(QuietHours(time(0, 0), time(0, 0)), "normal", late) is None
