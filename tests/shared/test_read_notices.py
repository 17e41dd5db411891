"""What a process keeps of the read model between commands (shared.read_notices), on a real PostgreSQL: a notice
counts only when the projection's transaction commits, a value read while a change committed is not kept, and a
listener that lost its connection keeps nothing until it listens again."""

from __future__ import annotations

import asyncio
import contextlib

import asyncpg

from shared.read_notices import NoticedCache, NoticeListener, notice_channel, notify_changed
from shared.settings import Settings
from tests.platform import wait_until

SCHEMA = "intake"


async def _listening(settings: Settings) -> tuple[NoticedCache, asyncio.Task[None]]:
    cache = NoticedCache()
    task = asyncio.create_task(NoticeListener(settings.database_url, SCHEMA, cache).run())

    async def ready() -> bool:
        return cache.listening

    await wait_until(ready, what="the listener connected")
    return cache, task


async def _stop(task: asyncio.Task[None]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


async def test_an_entry_is_forgotten_when_the_change_commits_and_kept_when_it_rolls_back(settings: Settings) -> None:
    cache, task = await _listening(settings)
    conn = await asyncpg.connect(settings.database_url)
    try:
        cache.put("plans", "p1", {"m1": 1}, cache.generation())
        cache.put("plans", "p2", {"m2": 1}, cache.generation())
        with contextlib.suppress(RuntimeError):
            async with conn.transaction():
                await notify_changed(conn, SCHEMA, "plans", ["p1"])
                raise RuntimeError("the batch failed")  # rolled back: nothing changed, nothing is said
        async with conn.transaction():
            await notify_changed(conn, SCHEMA, "plans", ["p2"])

        async def p2_forgotten() -> bool:
            return cache.get("plans", "p2") is None

        await wait_until(p2_forgotten, what="the committed notice")
        assert cache.get("plans", "p1") == {"m1": 1}  # the rolled-back one never arrived (it came first, if at all)
    finally:
        await conn.close()
        await _stop(task)


async def test_a_value_read_while_a_notice_arrived_is_not_kept() -> None:
    cache = NoticedCache()
    cache.listening = True
    read_at = cache.generation()
    cache.changed("plans:p9")  # a change committed while the value was being read
    cache.put("plans", "p1", {"old": 1}, read_at)
    assert cache.get("plans", "p1") is None
    cache.put("plans", "p1", {"new": 1}, cache.generation())
    assert cache.get("plans", "p1") == {"new": 1}


async def test_a_listener_that_lost_its_connection_keeps_nothing_until_it_listens_again(settings: Settings) -> None:
    cache, task = await _listening(settings)
    admin = await asyncpg.connect(settings.database_url)
    try:
        cache.put("plans", "p1", {"m1": 1}, cache.generation())
        killed = await admin.fetchval(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE query ILIKE $1",
            f"%LISTEN%{notice_channel(SCHEMA)}%",
        )
        assert killed == 1

        async def deaf() -> bool:
            return not cache.listening

        await wait_until(deaf, what="the lost connection noticed")
        assert cache.get("plans", "p1") is None  # a notice may have been missed meanwhile
        cache.put("plans", "p1", {"m1": 1}, cache.generation())
        assert cache.get("plans", "p1") is None  # nor is anything kept while deaf

        async def listening_again() -> bool:
            return cache.listening

        await wait_until(listening_again, what="the listener back")
        cache.put("plans", "p1", {"m1": 1}, cache.generation())
        assert cache.get("plans", "p1") == {"m1": 1}
    finally:
        await admin.close()
        await _stop(task)
