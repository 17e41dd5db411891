"""`GET /v1/inbox?as_of=` and `/v1/inbox/unread-count?as_of=`: the inbox aggregate folded from the log up to that
moment (docs/adr/0031): the notifications it held then, each with its read and delivery state then."""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

from shared.time_travel import AS_OF_HEADER
from tests.notification.conftest import DEADLINE, Platform
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


async def inbox_then(platform: Platform, org: str, as_of: str, **params: Any) -> dict[str, Any]:
    r = await platform.notification.get("/v1/inbox", params={"as_of": as_of, **params}, headers=platform.h(org))
    assert r.status_code == 200, r.text
    assert AS_OF_HEADER in r.headers
    page: dict[str, Any] = r.json()
    return page


async def test_inbox_list_as_of_a_moment_before_a_read_and_a_later_notification(platform: Platform) -> None:
    before_any = (platform.clock.now() - timedelta(minutes=1)).isoformat()
    await assigned_and_escalated(platform)
    earlier = (await platform.inbox("unit-b"))["items"]
    assert len(earlier) == 2 and not any(i["read"] for i in earlier)
    platform.clock.advance(timedelta(hours=1))
    moment = platform.clock.now().isoformat()
    platform.clock.advance(timedelta(hours=1))

    first = earlier[0]["id"]
    r = await platform.notification.post(f"/v1/inbox/{first}/read", headers=platform.h("unit-b"))
    assert r.status_code == 200, r.text
    project_id = await platform.project(name="郑州航空港物流园")
    issue_id = await platform.raise_issue(project_id)
    await platform.act(issue_id, "assignment", "hq", {"lead_unit_id": "unit-b", "deadline": DEADLINE})
    await platform.synced()

    now = await platform.inbox("unit-b")
    assert now["total"] == 3 and {i["id"]: i["read"] for i in now["items"]}[first] is True
    later = [i["id"] for i in now["items"] if i["id"] not in {e["id"] for e in earlier}]
    assert len(later) == 1

    then = await inbox_then(platform, "unit-b", moment)
    assert [i["id"] for i in then["items"]] == [i["id"] for i in earlier]  # newest first, the later one absent
    assert all(not i["read"] and i["read_at"] is None for i in then["items"])  # unread then, read now
    assert (await inbox_then(platform, "unit-b", moment, unread="false"))["total"] == 0
    assert (await platform.inbox("unit-b", unread="false"))["total"] == 1
    urgent = await inbox_then(platform, "unit-b", moment, urgency="urgent")
    assert [i["rule_id"] for i in urgent["items"]] == ["issue-escalated"]
    page = await inbox_then(platform, "unit-b", moment, limit=1, offset=1)
    assert page["total"] == 2 and [i["id"] for i in page["items"]] == [earlier[1]["id"]]
    assert (await inbox_then(platform, "unit-b", before_any))["total"] == 0  # no notification yet: empty, no 404
    assert (await inbox_then(platform, "auditor", moment, org_id="unit-b"))["items"] == then["items"]
    r = await platform.notification.get(
        "/v1/inbox", params={"org_id": "unit-b", "as_of": moment}, headers=platform.h("unit-a")
    )
    assert r.status_code == 403 and r.json()["errors"][0]["field"] == "org_id"


async def test_the_inbox_folded_up_to_now_is_the_live_list_field_for_field(platform: Platform) -> None:
    """Every field of the historic list, delivery status and attempts too, is folded from the inbox's events the
    way the read model applies them: up to now (a moment after now is now) the two agree on every inbox."""
    await assigned_and_escalated(platform)
    r = await platform.notification.post(
        f"/v1/inbox/{(await platform.inbox('unit-c'))['items'][0]['id']}/read", headers=platform.h("unit-c")
    )
    assert r.status_code == 200, r.text
    future = (platform.clock.now() + timedelta(days=365)).isoformat()
    for org in ("unit-b", "unit-c"):
        deadline = time.monotonic() + 30  # the delivery engine may still be recording attempts: wait till quiet
        while True:
            await platform.synced()
            live = await platform.inbox(org)
            then = await inbox_then(platform, org, future)
            if then == live or time.monotonic() > deadline:
                break
        assert then == live, org
        assert live["total"] > 0, org
