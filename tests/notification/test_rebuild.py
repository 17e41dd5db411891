"""The read model follows from the log: rebuilt from sequence 1 into a scratch schema, it equals the live one after
notifications requested and read, contact points, preferences, subscriptions and a second routing rule version."""

from __future__ import annotations

from services.notification.read_model import read_model
from shared.rebuild import diff_schemas, rebuild
from tests.notification.conftest import Platform
from tests.notification.test_routing import assigned_and_escalated


async def test_rebuild_equals_live(platform: Platform) -> None:
    await assigned_and_escalated(platform)
    n = platform.notification
    first = (await platform.inbox("unit-b"))["items"][0]["id"]
    assert (await n.post(f"/v1/inbox/{first}/read", headers=platform.h("unit-b"))).status_code == 200
    point = {"kind": "email", "address": "lly@unit-a.example", "person": "联络员"}
    assert (await n.post("/v1/contact-points", json=point, headers=platform.h("unit-a"))).status_code == 201
    prefs = {"preferences": {"channels": {"normal": ["email"]}, "digest": "weekly"}}
    assert (await n.put("/v1/preferences", json=prefs, headers=platform.h("unit-a"))).status_code == 200
    sub = {"event_types": ["StatusLightChanged"], "project_id": "p-1"}
    assert (await n.post("/v1/subscriptions", json=sub, headers=platform.h("unit-a"))).status_code == 201
    await platform.synced()

    rt = platform.notification_rt
    await rebuild(rt.pool, rt.store, read_model(), "notification_rebuild", until_seq=await rt.store.last_seq())
    assert await diff_schemas(rt.pool, read_model(), rt.schema, "notification_rebuild") == {}
    async with rt.pool.acquire() as conn:
        rows = await conn.fetch("SELECT read_at IS NOT NULL AS read FROM notification_rebuild.notifications")
        facts = await conn.fetchval("SELECT count(*) FROM notification_rebuild.issue_facts")
    assert sorted(r["read"] for r in rows) == [False, False, False, True] and facts == 1  # it compared something
