"""The inbox's live stream (Server-Sent Events): each notification as an event whose id is the stream sequence of
its request, so that a client that reconnects with `Last-Event-ID` gets exactly what it missed, in order, and
nothing twice.

New notifications are noticed by one watcher per process (not one per connection): every POLL_S it reads where the
projection's partitions stand (their checkpoints, committed with the rows) and wakes the streams when any moved. It
watches the database because the projection may run in another process (a worker, another replica). One inbox's
events are on one subject, hence one partition, so its rows are committed in sequence order: a stream that asks for
what follows its last sequence never skips one.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

import asyncpg

from services.notification import queries
from services.notification.responses import notification_view
from shared.names import PROJECTION_GROUP

log = logging.getLogger("tiaodu.notification")

POLL_S = 0.25
HEARTBEAT_S = 15  # well inside the gateway's 60 s read timeout (services/gateway/haproxy_config.py)
BATCH = 100
CHECKPOINTS = "SELECT coalesce(sum(last_seq), 0) FROM {s}._checkpoint WHERE grp = $1"


class InboxWatch:
    def __init__(self, pool: asyncpg.Pool, schema: str) -> None:
        self.pool = pool
        self.schema = schema
        self.position = 0  # the sum of the projection's checkpoints: it only grows
        self._moved = asyncio.Condition()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._watch(), name="inbox-watch")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _watch(self) -> None:
        while True:
            try:
                async with self.pool.acquire() as conn:
                    position = int(await conn.fetchval(CHECKPOINTS.format(s=self.schema), PROJECTION_GROUP))
            except (OSError, asyncpg.PostgresError) as exc:
                log.warning("inbox watch cannot read the checkpoints, trying again: %s", exc)
                position = self.position  # the database is away: the streams wait, the watcher tries again
            if position > self.position:
                self.position = position
                async with self._moved:
                    self._moved.notify_all()
            await asyncio.sleep(POLL_S)

    async def wait_beyond(self, position: int, timeout: float) -> None:
        """Until the projection has moved beyond `position`, or `timeout`."""
        async with self._moved:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._moved.wait_for(lambda: self.position > position), timeout)


async def notification_events(watch: InboxWatch, org_id: str, after_seq: int) -> AsyncIterator[dict[str, Any]]:
    cursor = after_seq
    while True:
        seen = watch.position  # before the query: a commit during it wakes the next wait at once
        rows = await queries.after(watch.pool, watch.schema, org_id, cursor, BATCH)
        for row in rows:
            cursor = row["seq"]
            yield {"id": str(row["seq"]), "event": "notification", "data": notification_view(row).model_dump_json()}
        if len(rows) < BATCH:
            await watch.wait_beyond(seen, HEARTBEAT_S)


async def latest_seq(pool: asyncpg.Pool, schema: str, org_id: str) -> int:
    """Where a stream without Last-Event-ID starts: after the inbox's newest notification (what is new from now)."""
    async with pool.acquire() as conn:
        seq = await conn.fetchval(f"SELECT max(seq) FROM {schema}.notifications WHERE org_id = $1", org_id)
    return int(seq or 0)
