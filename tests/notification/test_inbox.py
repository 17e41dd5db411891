"""The inbox: unread count, filters, mark read (once, by the recipient only); hq and the auditor read any inbox,
an organisation only its own."""

from __future__ import annotations

from tests.notification.conftest import Platform
from tests.notification.test_routing import assigned_and_escalated


async def unread(platform: Platform, org: str, **params: str) -> int:
    r = await platform.notification.get("/v1/inbox/unread-count", params=params, headers=platform.h(org))
    assert r.status_code == 200, r.text
    count: int = r.json()["unread"]
    return count


async def test_unread_count_filters_and_mark_read(platform: Platform) -> None:
    await assigned_and_escalated(platform)
    assert await unread(platform, "unit-b") == 2
    urgent = await platform.inbox("unit-b", urgency="urgent")
    assert [i["rule_id"] for i in urgent["items"]] == ["issue-escalated"] and urgent["total"] == 1
    page = await platform.inbox("unit-b", limit=1)
    assert page["total"] == 2 and len(page["items"]) == 1 and page["items"][0]["rule_id"] == "issue-escalated"

    notification_id = urgent["items"][0]["id"]
    path = f"/v1/inbox/{notification_id}/read"
    for org in ("unit-a", "hq", "auditor"):  # not theirs to mark, whoever may read it
        r = await platform.notification.post(path, headers=platform.h(org))
        assert r.status_code == 403, (org, r.text)
    first = await platform.notification.post(path, headers=platform.h("unit-b"))
    assert first.status_code == 200, first.text
    again = await platform.notification.post(path, headers=platform.h("unit-b"))
    assert again.status_code == 200 and again.json()["seq"] == first.json()["seq"]  # nothing appended twice
    await platform.synced()
    events = await platform.notification_rt.store.read_aggregate("inbox", "unit-b")
    assert [e.envelope.type for e in events].count("NotificationRead") == 1
    assert await unread(platform, "unit-b") == 1
    read = await platform.inbox("unit-b", unread="false")
    assert [i["id"] for i in read["items"]] == [notification_id] and read["items"][0]["read_at"] is not None
    assert (await platform.inbox("unit-b", unread="true"))["total"] == 1

    missing = await platform.notification.post("/v1/inbox/ntf-nothing/read", headers=platform.h("unit-b"))
    assert missing.status_code == 404 and missing.json()["errors"][0]["field"] == "notification_id"


async def test_who_reads_which_inbox(platform: Platform) -> None:
    await assigned_and_escalated(platform)
    for org in ("hq", "auditor"):
        assert await unread(platform, org, org_id="unit-b") == 2
        assert (await platform.inbox(org, org_id="unit-b"))["total"] == 2
    for org in ("unit-a", "leader-a", "supervision"):
        r = await platform.notification.get("/v1/inbox", params={"org_id": "unit-b"}, headers=platform.h(org))
        assert r.status_code == 403 and r.json()["errors"][0]["field"] == "org_id", (org, r.text)
        r = await platform.notification.get(
            "/v1/inbox/unread-count", params={"org_id": "unit-b"}, headers=platform.h(org)
        )
        assert r.status_code == 403, org
    assert (await platform.notification.get("/v1/inbox")).status_code == 401
