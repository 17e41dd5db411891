"""The platform clock every process of a deployment shares: the real time plus an offset kept in the lease bucket.

Development only (demos, training): `make run`'s administrator writes the demo's offset at the first start (so that
the platform lives on the demo's day, docs/adr/0016), and hq moves it forward through scheduling's
`POST /v1/clock/advance`. The offset is a record in the lease bucket, not a process's memory: every replica of every
service follows it (re-read every FOLLOW_S), so all agree on the time, and timers then catch up period by period.
The offset only grows, so no timer ever sees time go back. In production the clock is the real time, nothing is read.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from nats.js.kv import KeyValue

from shared.clock import Clock, SystemClock
from shared.consumer import TRANSIENT
from shared.kv_records import read_record, write_record
from shared.names import clock_key

FOLLOW_S = 1.0
# At most this much per advance: timers catch up at most `Timer.catch_up` (7) periods, and a daily period must not
# be skipped (docs/adr/0016).
MAX_ADVANCE = timedelta(days=7)
WRITE_ATTEMPTS = 5

log = logging.getLogger("tiaodu.clock")


class ClockRaced(RuntimeError):
    """Another writer kept moving the clock while this one tried (compare-and-set lost every attempt)."""


@dataclass
class PlatformClock:
    """`base` (the real time, or a process's own TIAODU_CLOCK_START) moved forward by the shared offset."""

    base: Clock
    offset: timedelta = timedelta(0)
    revision: int | None = None  # of the clock record the offset was read from
    # Told when the offset moves (the runtime's timers look for due periods at once, not at their next poll).
    on_move: list[Callable[[], None]] = field(default_factory=list)

    def now(self) -> datetime:
        return self.base.now() + self.offset

    @property
    def simulated(self) -> bool:
        return self.offset != timedelta(0) or not isinstance(self.base, SystemClock)

    async def refresh(self, kv: KeyValue, stream: str) -> None:
        record, revision = await read_record(kv, clock_key(stream))
        if record is None or revision is None:
            return  # no clock record: the base clock as it is
        self.moved_to(timedelta(seconds=float(record.get("offset_s", 0.0))), revision)

    def moved_to(self, offset: timedelta, revision: int) -> None:
        """Take the record of `revision`, unless a newer one was taken already (a read racing an advance)."""
        if self.revision is not None and revision < self.revision:
            return
        moved = offset != self.offset
        if moved:
            log.info("platform clock offset %s -> %s", self.offset, offset)
        self.offset, self.revision = offset, revision
        if moved:
            for listener in self.on_move:
                listener()

    async def follow(self, kv: KeyValue, stream: str, interval: float = FOLLOW_S) -> None:
        while True:
            try:
                await self.refresh(kv, stream)
            except TRANSIENT as exc:
                log.warning("platform clock: %s: %s; reading again shortly", type(exc).__name__, exc)
            await asyncio.sleep(interval)


async def advance_offset(kv: KeyValue, stream: str, delta: timedelta) -> tuple[timedelta, int]:
    """Add `delta` (> 0) to the shared offset by compare-and-set; the new offset and the record's revision."""
    if not timedelta(0) < delta <= MAX_ADVANCE:
        raise ValueError(f"advance {delta} must be more than 0 and at most {MAX_ADVANCE}")
    key = clock_key(stream)
    for _ in range(WRITE_ATTEMPTS):
        record, revision = await read_record(kv, key)
        offset = float((record or {}).get("offset_s", 0.0)) + delta.total_seconds()
        advanced = float((record or {}).get("advanced_s", 0.0)) + delta.total_seconds()
        updated = {**(record or {}), "offset_s": offset, "advanced_s": advanced}
        if (written := await write_record(kv, key, updated, revision)) is not None:
            return timedelta(seconds=offset), written
    raise ClockRaced(key)


async def start_clock_at(kv: KeyValue, stream: str, start: datetime, now: datetime) -> bool:
    """Create the record so that the platform's time is `start` at the real moment `now` (the administrator, once:
    False when a record exists already, whose time then goes on from where it was)."""
    record = {"offset_s": (start - now).total_seconds(), "started_at": start.isoformat(), "advanced_s": 0.0}
    return await write_record(kv, clock_key(stream), record, None) is not None
