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
