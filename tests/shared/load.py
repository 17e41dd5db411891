"""A writer for fault tests: sound intake events (registration, then progress reports) at a steady rate.

Every append names its expected position, so the log is what intake itself would write: versions 1, 2, 3…
chained by `prev_hash`, one aggregate never written concurrently. The writer knows each aggregate's partition,
so a test can hold back or flood one partition.
"""

from __future__ import annotations

import asyncio
import random
from collections import defaultdict
from datetime import date, timedelta
from decimal import Decimal

from shared.catalogue.intake import Category, ConstructionType, ProgressReported, ProjectRegistered
from shared.eventstore import EventStore, Position
from tests.platform import SYSTEM_CTX


class Writer:
    def __init__(self, store: EventStore, aggregates: int, *, seed: int = 7) -> None:
        self.store = store
        self.ids = [f"fault-{i:03d}" for i in range(aggregates)]
        self.positions: dict[str, Position] = {}
        self.cumulative: dict[str, Decimal] = defaultdict(Decimal)
        self.partition_of: dict[str, int] = {}
        self.locks: dict[str, asyncio.Lock] = defaultdict(asyncio.Lock)
        self.held_back: set[int] = set()  # partitions the steady writer leaves alone for now
        self.written = 0
        self.ticks = 0  # rounds of the steady writer, so a test can wait until a hold-back has taken effect
        self.stop_requested = False
        self.last_seq_by_partition: dict[int, int] = {}
        self.rng = random.Random(seed)

    def aggregates_in(self, partition: int) -> list[str]:
        return [a for a in self.ids if self.partition_of[a] == partition]

    async def register_all(self) -> None:
        await asyncio.gather(*(self._register(a) for a in self.ids))

    async def _register(self, aggregate_id: str) -> None:
        payload = ProjectRegistered(
            programme_id="prog",
            name=f"故障测试项目 {aggregate_id}",
            category=Category.INDUSTRIAL,
            unit_id="unit-a",
            location="马村区",
            construction_type=ConstructionType.NEW,
            total_investment=Decimal(100000),
            annual_planned_investment=Decimal(40000),
            planned_start=date(2024, 3, 1),
            planned_completion=date(2025, 12, 31),
        )
        await self._append(aggregate_id, payload)

    async def report(self, aggregate_id: str) -> None:
        async with self.locks[aggregate_id]:
            version = self.positions[aggregate_id].version
            amount = Decimal(self.rng.randint(1, 99))
            start = date(2024, 1, 1) + timedelta(days=7 * version)  # consecutive weeks: periods never overlap
            payload = ProgressReported(
                report_id=f"{aggregate_id}-r{version}",
                period_start=start,
                period_end=start + timedelta(days=6),
                investment_this_period=amount,
                cumulative_investment=self.cumulative[aggregate_id] + amount,
                image_progress_pct=Decimal(version % 100),
            )
            await self._append(aggregate_id, payload)
            self.cumulative[aggregate_id] += amount

    async def _append(self, aggregate_id: str, payload: ProjectRegistered | ProgressReported) -> None:
        expected = self.positions.get(aggregate_id, Position())
        stored = await self.store.append("project", aggregate_id, payload, expected=expected, context=SYSTEM_CTX)
        self.positions[aggregate_id] = expected.after(stored)
        if aggregate_id not in self.partition_of:
            # append() answers with the publish subject; the partition is in the stored one.
            self.partition_of[aggregate_id] = (await self.store.get(stored.seq)).partition
        partition = self.partition_of[aggregate_id]
        self.last_seq_by_partition[partition] = max(self.last_seq_by_partition.get(partition, 0), stored.seq)
        self.written += 1

    async def steady(self, total: int, per_second: float, per_tick: int = 8) -> None:
        """Append `total` progress reports at about `per_second`, spread over the partitions not held back,
        or fewer if `stop_requested` is set first."""
        loop = asyncio.get_running_loop()
        interval = per_tick / per_second
        next_tick = loop.time()
        done = 0
        while done < total and not self.stop_requested:
            open_ids = [a for a in self.ids if self.partition_of[a] not in self.held_back]
            chosen = self.rng.sample(open_ids, min(per_tick, len(open_ids), total - done))
            await asyncio.gather(*(self.report(a) for a in chosen))
            done += len(chosen)
            self.ticks += 1
            # Pacing, not waiting for a fact: the rate is part of the load being described.
            next_tick += interval
            await asyncio.sleep(max(0.0, next_tick - loop.time()))

    async def burst(self, partition: int, total: int) -> None:
        """Append `total` progress reports to one partition as fast as the log takes them."""
        ids = self.aggregates_in(partition)

        async def chain(aggregate_id: str, n: int) -> None:
            for _ in range(n):
                await self.report(aggregate_id)

        share, extra = divmod(total, len(ids))
        await asyncio.gather(*(chain(a, share + (i < extra)) for i, a in enumerate(ids)))
