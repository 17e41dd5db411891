"""Group robots take about 20 messages a minute each (DingTalk documents it; WeCom likewise) and answer more with a
rate-limit error. Sends to one robot therefore queue, in order, until its window has room: nothing is dropped.

The window is kept on the platform clock, so a simulated clock (tests, the demo's advance) moves it too. The waiter
re-reads the clock at least every `poll_s`: a real clock frees it when the window passes, a simulated one when it
is moved. The limit is per process; two replicas sending to the same robot may together exceed it, and the robot's
own rate-limit answer (a retryable outcome) covers that rare case.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
from collections import deque
from dataclasses import dataclass
from datetime import datetime, timedelta

from shared.clock import Clock

_RATE = re.compile(r"(\d+)/(\d+(?:\.\d+)?)s")


@dataclass(frozen=True)
class RateLimit:
    count: int = 20
    window: timedelta = timedelta(minutes=1)

    @classmethod
    def parse(cls, text: str) -> RateLimit:
        """`20/60s`: at most 20 messages in any 60 seconds (TIAODU_ROBOT_RATE)."""
        match = _RATE.fullmatch(text.strip())
        if not match or int(match[1]) < 1 or float(match[2]) <= 0:
            raise ValueError(f"TIAODU_ROBOT_RATE: <count>/<seconds>s expected, e.g. 20/60s, not {text!r}")
        return cls(int(match[1]), timedelta(seconds=float(match[2])))


def robot_key(url: str) -> str:
    """Robots are told apart by their URL, which is a credential: the limiter keeps only its digest."""
    return hashlib.sha256(url.encode()).hexdigest()


class RobotRateLimiter:
    def __init__(self, clock: Clock, limit: RateLimit = RateLimit(), *, poll_s: float = 0.5) -> None:
        self._clock = clock
        self._limit = limit
        self._poll_s = poll_s
        self._sent: dict[str, deque[datetime]] = {}
        self._turns: dict[str, asyncio.Lock] = {}  # asyncio.Lock wakes its waiters first come, first served
        self._queued: dict[str, int] = {}
        self._queue_moved = asyncio.Condition()

    def queued(self, robot: str) -> int:
        """Sends to `robot` still waiting for their turn (the one being granted included)."""
        return self._queued.get(robot, 0)

    async def until_queued(self, robot: str, count: int) -> None:
        """Returns once `count` sends to `robot` wait (for health figures and tests: a fact to wait on)."""
        async with self._queue_moved:
            await self._queue_moved.wait_for(lambda: self.queued(robot) == count)

    async def _count(self, robot: str, change: int) -> None:
        async with self._queue_moved:
            self._queued[robot] = self._queued.get(robot, 0) + change
            self._queue_moved.notify_all()

    async def acquire(self, robot: str) -> timedelta:
        """Wait until `robot` may take one more message; answers how long that took on the platform clock."""
        await self._count(robot, +1)
        try:
            started = self._clock.now()  # before the queue: the answer covers waiting behind earlier sends too
            async with self._turns.setdefault(robot, asyncio.Lock()):
                sent = self._sent.setdefault(robot, deque())
                while True:
                    now = self._clock.now()
                    while sent and sent[0] <= now - self._limit.window:
                        sent.popleft()
                    if len(sent) < self._limit.count:
                        sent.append(now)
                        return now - started
                    room_at = sent[0] + self._limit.window
                    await asyncio.sleep(min(self._poll_s, (room_at - now).total_seconds()))
        finally:
            await self._count(robot, -1)
