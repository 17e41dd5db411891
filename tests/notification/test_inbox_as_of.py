"""`GET /v1/inbox/unread-count?as_of=`: the inbox aggregate folded from the log up to that moment (docs/adr/0031)."""

from __future__ import annotations

from datetime import timedelta

from tests.notification.conftest import Platform
from tests.notification.test_inbox import unread
from tests.notification.test_routing import assigned_and_escalated


async def test_unread_count_as_of_a_moment_before_a_read(platform: Platform) -> None:
    before_any = (platform.clock.now() - timedelta(minutes=1)).isoformat()
    await assigned_and_escalated(platform)
    assert await unread(platform, "unit-b") == 2
    platform.clock.advance(timedelta(hours=1))
    before_read = platform.clock.now().isoformat()
    platform.clock.advance(timedelta(hours=1))
    [first, *_] = (await platform.inbox("unit-b"))["items"]
    r = await platform.notification.post(f"/v1/inbox/{first['id']}/read", headers=platform.h("unit-b"))
    assert r.status_code == 200, r.text
    await platform.synced()
    assert await unread(platform, "unit-b") == 1

    assert await unread(platform, "unit-b", as_of=before_read) == 2
    assert await unread(platform, "unit-b", as_of=platform.clock.now().isoformat()) == 1
    assert await unread(platform, "unit-b", as_of=before_any) == 0  # no notification yet: an empty inbox
    assert await unread(platform, "hq", org_id="unit-b", as_of=before_read) == 2
    r = await platform.notification.get(
        "/v1/inbox/unread-count", params={"org_id": "unit-b", "as_of": before_read}, headers=platform.h("unit-a")
    )
    assert r.status_code == 403
    r = await platform.notification.get(
        "/v1/inbox/unread-count", params={"as_of": "2024-02-30"}, headers=platform.h("unit-b")
    )
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "as_of"
