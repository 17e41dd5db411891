"""Timers: time-driven work exactly once per period, across replicas and restarts, on the injectable clock.

A schedule ("daily 06:00", "weekly mon 09:00", "every 5m", China time) cuts time into periods; a period is due once
the platform clock has passed its start, so nothing ever runs for a period after the platform's today. Every replica
polls; the one that takes the timer's lease (a compare-and-set key in the lease bucket, under the service's prefix)
runs the due period, then records it as done in the same key. A replica that dies mid-run loses its lease and another
runs the period again: handlers put the period in the ids of what they append (and check the aggregates they write),
so a repeated run appends nothing twice. After an outage the missed periods run oldest first (at most `catch_up`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from nats.js.kv import KeyValue

from shared.clock import Clock
from shared.consumer import TRANSIENT
from shared.kv_records import read_record, write_record
from shared.metrics import TIMER_RUNS
from shared.names import timer_key
from shared.schedule import Period, Schedule
from shared.tasks import cancel_and_wait

if TYPE_CHECKING:
    from shared.runtime import Runtime

log = logging.getLogger("tiaodu.timers")

# How long after another replica's lease on due work lapses a replica looks again (a replica that died mid-run
# leaves its periods to the others: they take them as its lease lapses, not at their next poll; ADR 0038).
LAPSE_MARGIN_S = 0.05

# How long a run waits for this service's read model to hold every event recorded before it (the runs select their
# work from it) before giving up until the next poll.
CATCH_UP_S = 10.0

TimerHandler = Callable[["Runtime", Period], Awaitable[Any]]


@dataclass(frozen=True)
class Timer:
    name: str
    schedule: Schedule
    handler: TimerHandler
    catch_up: int = 7  # after an outage, at most this many missed periods run (oldest first)
    # The handler selects its work from this service's read model, so a period waits until it holds every event
    # recorded before the period runs (False: the handler reads nothing the projection writes, e.g. the seals).
    reads_model: bool = True


class TimerRunner:
    def __init__(
        self, runtime: Runtime, timers: Sequence[Timer], *, kv: KeyValue, clock: Clock, poll_s: float = 30.0
    ) -> None:
        self.runtime = runtime
        self.timers = list(timers)
        self.kv = kv
        self.clock = clock
        self.poll_s = poll_s
        self.owner = runtime.settings.replica_id
        self.ttl = runtime.settings.lease_ttl_s
        self.runs: list[tuple[str, str]] = []  # (timer, period label) this replica ran, for status and tests
        self._wake = asyncio.Event()
        self._lapse_at: float | None = None  # the earliest expiry of another replica's lease on a timer with due work

    def wake(self) -> None:
        """Look for due periods now rather than at the next poll (the development clock was moved forward)."""
        self._wake.set()

    def _key(self, timer: Timer) -> str:
        settings = self.runtime.settings
        return timer_key(settings.stream, self.runtime.runner.service, timer.name)

    async def run(self) -> None:
        while True:
            self._lapse_at = None
            for timer in self.timers:
                try:
                    await self.tick(timer)
                except TRANSIENT as exc:
                    TIMER_RUNS.labels(self.runtime.service, timer.name, "failed").inc()
                    log.warning("timer %s: %s: %s; retrying at the next poll", timer.name, type(exc).__name__, exc)
                except Exception:
                    TIMER_RUNS.labels(self.runtime.service, timer.name, "failed").inc()
                    log.exception("timer %s failed; retrying at the next poll", timer.name)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self._pause())
            self._wake.clear()

    def _pause(self) -> float:
        """Until the next poll or, when another replica holds due work, until its lease could have lapsed (each
        renewal of a live holder moves that on: one KV read per renewal while it runs)."""
        if self._lapse_at is None:
            return self.poll_s
        return min(self.poll_s, max(0.0, self._lapse_at - time.time()) + LAPSE_MARGIN_S)

    async def _read(self, key: str) -> tuple[dict[str, Any], int | None]:
        record, revision = await read_record(self.kv, key)
        return record or {}, revision

    async def _write(self, key: str, record: dict[str, Any], revision: int | None) -> int | None:
        return await write_record(self.kv, key, record, revision)

    async def tick(self, timer: Timer) -> None:
        """Run what is due of one timer, if no other replica is running it."""
        key = self._key(timer)
        record, revision = await self._read(key)
        done = datetime.fromisoformat(record["done"]) if record.get("done") else None
        periods = timer.schedule.missed(done, self.clock.now(), timer.catch_up)
        todo = [p for p in periods if done is None or p.start > done]
        if not todo:
            return
        if record.get("owner") not in (None, self.owner) and record.get("expires_at", 0) > time.time():
            expires = float(record["expires_at"])  # another replica is running it: look again when it could lapse
            self._lapse_at = expires if self._lapse_at is None else min(self._lapse_at, expires)
            return
        held = _Held(await self._write(key, {**record, "owner": self.owner, "expires_at": self._expiry()}, revision))
        if held.revision is None:
            return  # another replica took it first
        renewer = asyncio.create_task(self._renew(key, held))
        try:
            for period in todo:
                if timer.reads_model:
                    await self._caught_up(timer)
                await timer.handler(self.runtime, period)
                self.runs.append((timer.name, period.label))
                TIMER_RUNS.labels(self.runtime.service, timer.name, "ok").inc()
                record = {"done": period.start.isoformat(), "label": period.label, "owner": self.owner}
                async with held.lock:
                    held.revision = await self._write(key, {**record, "expires_at": self._expiry()}, held.revision)
                if held.revision is None:
                    return  # we were too slow and lost the lease: the new holder carries on
                log.info("timer %s: period %s done", timer.name, period.label)
        finally:
            await cancel_and_wait(renewer, timeout=2.0)
            # Hand the lease back at once, also when stopped (SIGTERM) mid-run: the periods not recorded as done are
            # run by the next holder (runs are idempotent by period, ADR 0008) without waiting for the expiry.
            async with held.lock:
                if held.revision is not None:
                    with contextlib.suppress(*TRANSIENT):
                        await self._write(key, {**record, "expires_at": 0.0}, held.revision)

    async def _caught_up(self, timer: Timer) -> None:
        """A run selects its work from this service's read model, which must hold every event recorded before the
        run begins: a partition just taken over from a dead replica may still be replaying, and a period marked done
        on a partial view would never be run again. Raises (the period stays due) when it does not catch up."""
        last = await self.runtime.store.last_seq()
        if not await self.runtime.runner.wait_for(last, CATCH_UP_S):
            raise TimeoutError(f"timer {timer.name}: the read model did not reach seq {last} in {CATCH_UP_S:.0f} s")

    def _expiry(self) -> float:
        return time.time() + self.ttl

    async def _renew(self, key: str, held: _Held) -> None:
        while held.revision is not None:
            await asyncio.sleep(self.ttl / 3)
            async with held.lock:
                if held.revision is None:
                    return
                record, revision = await self._read(key)
                if revision != held.revision:
                    held.revision = None  # somebody else wrote: the lease is gone
                    return
                with contextlib.suppress(*TRANSIENT):
                    held.revision = await self._write(key, {**record, "expires_at": self._expiry()}, revision)


class _Held:
    def __init__(self, revision: int | None) -> None:
        self.revision = revision
        self.lock = asyncio.Lock()


__all__ = ["Period", "Schedule", "Timer", "TimerRunner"]
