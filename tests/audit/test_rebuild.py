"""The event index follows from the log like every read model: rebuilt from sequence 1 into a scratch schema, it
equals the live one, row for row."""

from __future__ import annotations

from datetime import timedelta

from services.audit.read_model import read_model
from shared.rebuild import diff_schemas, rebuild
from tests.audit.conftest import Audited


async def test_rebuilt_index_equals_live(audited: Audited) -> None:
    project = await audited.project()
    audited.clock.advance(timedelta(hours=2))
    r = await audited.intake.patch(f"/v1/projects/{project['id']}", json={"name": "新名称"}, headers=audited.h("hq"))
    assert r.status_code == 200, r.text
    await audited.synced()
    rt = audited.audit_rt
    last = await rt.store.last_seq()
    await rebuild(rt.pool, rt.store, read_model(), "audit_rebuild", until_seq=last)
    assert await diff_schemas(rt.pool, read_model(), rt.schema, "audit_rebuild") == {}
    async with rt.pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM audit_rebuild.event_index") == last  # it compared something
