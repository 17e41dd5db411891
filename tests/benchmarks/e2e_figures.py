"""The arithmetic of the notification round (notification_e2e.py), kept pure so `make test` checks it: each expected
notification paired with its webhook's arrival, percentiles in which a lost notification counts as never arriving,
and the sentence results.md gives about what bounds the figure."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

TARGET_P99_MS: float = 500  # issue 10: event appended -> webhook received, p99


@dataclass(frozen=True)
class Expected:
    """A notification the round waits for: its id (the webhook-id), when its source event was acknowledged, and
    when the notification service recorded the request (None when it never did)."""

    notification_id: str
    acked_at: float  # seconds since the epoch, the bench's clock (the receiver's is the same machine's)
    requested_at: float | None = None


@dataclass(frozen=True)
class Paired:
    latencies_ms: list[float]  # one per expected notification that arrived, in the expected order
    lost: list[str]  # expected and never received
    unexpected: int  # received and not expected (another rule, another source): not counted in the figure
    routing_ms: list[float]  # source acknowledged -> the notification's request recorded
    delivery_ms: list[float]  # request recorded -> webhook received


def pair(expected: Sequence[Expected], arrivals: Mapping[str, float]) -> Paired:
    """`arrivals`: webhook-id -> first arrival (a repeat of an id is the receiver's to drop, not a new message).
    A clock read in two processes may disagree by a few microseconds: a latency is never below 0."""
    latencies, lost, routing, delivery = [], [], [], []
    for e in expected:
        arrived = arrivals.get(e.notification_id)
        if arrived is None:
            lost.append(e.notification_id)
            continue
        latencies.append(max(0.0, (arrived - e.acked_at) * 1000))
        if e.requested_at is not None:
            routing.append(max(0.0, (e.requested_at - e.acked_at) * 1000))
            delivery.append(max(0.0, (arrived - e.requested_at) * 1000))
    unexpected = len(set(arrivals) - {e.notification_id for e in expected})
    return Paired(latencies, lost, unexpected, routing, delivery)


def nearest_rank(values: Sequence[float], q: float) -> float:
    """The q-th percentile by nearest rank: a value that was measured (math.inf for a lost one), no interpolation."""
    if not values:
        raise ValueError("no values")
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)]


def summary(latencies_ms: Sequence[float], lost: int = 0) -> dict[str, float | None]:
    """p50, p99 and max over every expected notification; a lost one is infinitely late, so a percentile it reaches
    is None (not measured: neither met nor missed) rather than the percentile of the ones that happened to arrive."""
    values = [*latencies_ms, *([math.inf] * lost)]
    if not values:
        return {"p50_ms": None, "p99_ms": None, "max_ms": None}
    found = {f"p{q}_ms": nearest_rank(values, q) for q in (50, 99)} | {"max_ms": max(values)}
    return {k: (None if math.isinf(v) else round(v, 1)) for k, v in found.items()}


def bound_sentence(results: Mapping[str, Any], detail: Mapping[str, Any]) -> list[str]:
    """Where a notification's time went, stage by stage, from the round's own measurements."""
    round_ = detail.get("notification_e2e")
    if not round_:
        return []
    p99 = results.get("notification_e2e_p99_ms")
    verdict = "missed" if p99 is None or p99 >= TARGET_P99_MS else "met"
    routing, delivery = round_["routing_ms"], round_["delivery_ms"]
    return [
        f"- Notification end to end ({verdict}: p99 {p99} ms, target < {TARGET_P99_MS:.0f} ms): "
        f"{round_['received']} of {round_['expected']} webhooks received ({round_['lost']} lost, "
        f"{round_['repeats']} repeated, {round_['bad_signatures']} with a bad signature) at "
        f"{round_['appended_per_s']:.1f} source events/s. Source acknowledged -> request recorded (the routing "
        f"reaction behind notification's projection): p50 {routing['p50_ms']} ms, p99 {routing['p99_ms']} ms; "
        f"request recorded -> webhook received (the delivery reaction queues it, the partition's sender sends it): "
        f"p50 {delivery['p50_ms']} ms, p99 {delivery['p99_ms']} ms. The notification process used "
        f"{round_['cpu_ms_per_notification']} ms of CPU per notification; the machine was "
        f"{round_.get('machine_busy_cores', '?')} of {results.get('cores', '?')} cores busy (every process, "
        "anyone's): a stage that grows through the round is a backlog, the service getting less CPU than it needs."
    ]
