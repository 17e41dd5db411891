"""The service starts beside the others, answers its health endpoints and an empty inbox."""

from __future__ import annotations

from tests.notification.conftest import Platform


async def test_health_and_an_empty_inbox(platform: Platform) -> None:
    assert (await platform.notification.get("/healthz")).status_code == 200
    ready = await platform.notification.get("/readyz")
    assert ready.status_code == 200 and ready.json()["parked_events"] == 0, ready.text
    page = await platform.inbox("unit-a")
    assert page["total"] == 0 and page["items"] == []
    r = await platform.notification.get("/v1/inbox/unread-count", headers=platform.h("unit-a"))
    assert r.status_code == 200 and r.json() == {"org_id": "unit-a", "unread": 0}, r.text
