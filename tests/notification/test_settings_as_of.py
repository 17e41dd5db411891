"""`as_of` on an organisation's settings (contact points, preferences, subscriptions) and on the routing rule
versions: the aggregate folded from the log up to that moment (docs/adr/0031). Before its first event an
organisation has what one that never set anything has: the defaults and empty lists, version 0."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from shared.time_travel import AS_OF_HEADER
from tests.notification.conftest import Platform
from tests.notification.test_settings import webhook

DAILY = {"preferences": {"channels": {"urgent": ["dingtalk"]}, "digest": "daily"}}
WEEKLY = {"preferences": {"channels": {"urgent": ["email", "sms"]}, "quiet_hours": {"start": "22:00", "end": "07:00"},
                          "digest": "weekly"}}  # fmt: skip


async def read(platform: Platform, path: str, org: str = "unit-a", **params: str) -> tuple[dict[str, Any], Any]:
    r = await platform.notification.get(path, params=params, headers=platform.h(org))
    assert r.status_code == 200, (path, r.text)
    assert (AS_OF_HEADER in r.headers) == ("as_of" in params), path
    return r.json(), r.headers


async def written(platform: Platform, method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
    r = await platform.notification.request(method, path, json=body, headers=platform.h("unit-a"))
    assert r.status_code in (200, 201), (path, r.text)
    answer: dict[str, Any] = r.json()
    return answer


async def test_settings_as_of_a_moment_before_they_changed(platform: Platform) -> None:
    before_any = (platform.clock.now() - timedelta(minutes=1)).isoformat()
    point = await written(platform, "POST", "/v1/contact-points", webhook())
    await written(platform, "PUT", "/v1/preferences", DAILY)
    first = await written(platform, "POST", "/v1/subscriptions", {"event_types": ["StatusLightChanged"]})
    await platform.synced()
    version_then = (await read(platform, "/v1/preferences"))[0]["version"]
    platform.clock.advance(timedelta(hours=1))
    moment = platform.clock.now().isoformat()
    platform.clock.advance(timedelta(hours=1))

    await written(platform, "PUT", f"/v1/contact-points/{point['id']}", webhook(label="新名称"))
    await written(platform, "PUT", "/v1/preferences", WEEKLY)
    await written(platform, "DELETE", f"/v1/subscriptions/{first['id']}")
    second = await written(platform, "POST", "/v1/subscriptions", {"event_types": ["DispatchMeetingScheduled"]})
    await platform.synced()

    now, _ = await read(platform, "/v1/preferences")
    then, headers = await read(platform, "/v1/preferences", as_of=moment)
    assert now["preferences"]["digest"] == "weekly" and now["version"] > version_then
    assert then["preferences"]["digest"] == "daily" and then["preferences"]["quiet_hours"] is None
    assert then["version"] == version_then and headers["etag"] == f'"{version_then}"'

    assert [s["id"] for s in (await read(platform, "/v1/subscriptions"))[0]["items"]] == [second["id"]]
    then_subs, _ = await read(platform, "/v1/subscriptions", as_of=moment)
    assert [(s["id"], s["event_types"]) for s in then_subs["items"]] == [(first["id"], ["StatusLightChanged"])]

    assert [p["label"] for p in (await read(platform, "/v1/contact-points"))[0]["items"]] == ["新名称"]
    then_points, _ = await read(platform, "/v1/contact-points", as_of=moment)
    assert [p["label"] for p in then_points["items"]] == ["单位业务系统"]
    assert then_points["items"][0]["secret_hint"] == "****CRET"  # a hint then too, never the secret

    # Before the organisation set anything: what an organisation without settings has now.
    empty, headers = await read(platform, "/v1/preferences", as_of=before_any)
    assert (
        empty["version"] == 0
        and empty["preferences"] == (await read(platform, "/v1/preferences", "unit-b"))[0]["preferences"]
    )
    assert (await read(platform, "/v1/subscriptions", as_of=before_any))[0]["total"] == 0
    assert (await read(platform, "/v1/contact-points", as_of=before_any))[0]["total"] == 0

    # Who may read is decided as for the live read; hq and the auditor read any organisation's past.
    assert (await read(platform, "/v1/subscriptions", "auditor", org_id="unit-a", as_of=moment))[0] == then_subs
    assert (await read(platform, "/v1/preferences", "hq", org_id="unit-a", as_of=moment))[0] == then
    for path in ("/v1/preferences", "/v1/subscriptions", "/v1/contact-points"):
        r = await platform.notification.get(
            path, params={"org_id": "unit-a", "as_of": moment}, headers=platform.h("unit-b")
        )
        assert r.status_code == 403, (path, r.text)


async def test_routing_rules_as_of_before_a_version_was_published(platform: Platform) -> None:
    live, _ = await read(platform, "/v1/routing-rules")
    assert [v["version"] for v in live["items"]] == [1]
    platform.clock.advance(timedelta(hours=1))
    moment = platform.clock.now().isoformat()
    platform.clock.advance(timedelta(hours=1))
    # Effective from a day before the moment: published later, so not in the view of the moment all the same.
    body = {"effective_from": "2024-01-01", "rules": live["items"][0]["rules"]["rules"][:1], "note": "精简"}
    r = await platform.notification.post("/v1/routing-rules", json=body, headers=platform.h("hq"))
    assert r.status_code == 201, r.text
    await platform.synced()

    assert [v["version"] for v in (await read(platform, "/v1/routing-rules"))[0]["items"]] == [1, 2]
    then, _ = await read(platform, "/v1/routing-rules", as_of=moment)
    assert then == live
    before_defaults = (platform.clock.now() - timedelta(days=30)).isoformat()
    assert (await read(platform, "/v1/routing-rules", as_of=before_defaults))[0]["total"] == 0


async def test_an_as_of_that_is_not_a_moment_is_422_naming_it(platform: Platform) -> None:
    for path in ("/v1/preferences", "/v1/subscriptions", "/v1/contact-points", "/v1/routing-rules", "/v1/inbox"):
        for bad in ("2024-02-30", "yesterday", "2024-05-10T12:00:00"):
            r = await platform.notification.get(path, params={"as_of": bad}, headers=platform.h("unit-a"))
            assert r.status_code == 422, (path, bad, r.text)
            assert r.json()["errors"][0]["field"] == "as_of", (path, r.text)
