"""Who a token is, as the API remembers it (shared.auth.PrincipalCache) on a real PostgreSQL: requests of one token
that arrive while its entry is being read share that one read, and after `forget_all` (a credential issued or
revoked) a request reads again instead of joining a read begun before."""

from __future__ import annotations

import asyncio

from shared.auth import PrincipalCache
from tests.intake.conftest import Intake


async def test_concurrent_requests_of_one_token_share_one_read_and_a_forget_reads_again(intake: Intake) -> None:
    cache, rt = PrincipalCache(), intake.runtime
    token = intake.tokens["unit-a"]
    found = await asyncio.gather(*(cache.principal(rt.pool, rt.schema, token) for _ in range(32)))
    assert cache.reads == 1
    assert {p.org_id if p else None for p in found} == {"unit-a"}
    assert await cache.principal(rt.pool, rt.schema, "no-such-token") is None
    assert cache.reads == 2

    cache.forget_all()
    reading = asyncio.ensure_future(cache.principal(rt.pool, rt.schema, token))
    await asyncio.sleep(0)  # the read has begun: it waits for PostgreSQL
    assert cache.reads == 3
    cache.forget_all()  # e.g. a revocation applied by this process's projection meanwhile
    again = await cache.principal(rt.pool, rt.schema, token)
    assert (await reading) is not None and again is not None
    assert cache.reads == 4  # it did not join the read begun before the forget
    await cache.principal(rt.pool, rt.schema, token)
    assert cache.reads == 4  # and what it read is remembered


async def test_an_entry_past_half_its_life_answers_at_once_and_is_read_again_in_the_background(intake: Intake) -> None:
    now = [100.0]
    cache, rt = PrincipalCache(ttl=1.0, monotonic=lambda: now[0]), intake.runtime
    token = intake.tokens["unit-a"]

    async def refreshed() -> None:
        deadline = asyncio.get_running_loop().time() + 30
        while cache.refreshing:
            assert asyncio.get_running_loop().time() < deadline, "the background read never finished"
            await asyncio.sleep(0.01)

    assert (await cache.principal(rt.pool, rt.schema, token)).org_id == "unit-a"  # type: ignore[union-attr]
    now[0] += 0.4
    await cache.principal(rt.pool, rt.schema, token)
    assert (cache.reads, cache.refreshing) == (1, 0)  # young: answered from memory, nothing read

    now[0] += 0.2  # past half its life: answered from memory, one read begins beside it (not two)
    first, second = [await cache.principal(rt.pool, rt.schema, token) for _ in range(2)]
    assert first is not None and first == second
    assert cache.refreshing == 1
    await refreshed()
    assert cache.reads == 2

    now[0] += 0.9  # past the first read's `ttl`, within the refreshed entry's: still no request waits on a read
    assert await cache.principal(rt.pool, rt.schema, token) == first
    await refreshed()
    assert cache.reads == 3

    now[0] += 5  # expired: the request reads, and waits for it
    assert await cache.principal(rt.pool, rt.schema, token) == first
    assert (cache.reads, cache.refreshing) == (4, 0)
