"""Contact points, preferences, subscriptions and routing rules: an organisation manages its own, hq any, the auditor
reads and writes nothing; secrets are sealed in the log and never answered; bad input names the field."""

from __future__ import annotations

import json
from typing import Any

from services.notification.secret_box import SecretBox, binding
from shared.catalogue.notification import ContactPointConfigured
from tests.notification.conftest import Platform

SECRET = "whsec-0123456789abcdef-SECRET"
ROBOT = "https://oapi.dingtalk.com/robot/send?access_token=abcdef0123456789abcdef"


def webhook(**overrides: Any) -> dict[str, Any]:
    return {"kind": "webhook", "address": "https://erp.unit-a.example/hooks/tiaodu", "label": "单位业务系统",
            "secret": SECRET, **overrides}  # fmt: skip


async def test_contact_points_keep_secrets_out_of_answers_and_the_log(platform: Platform) -> None:
    n = platform.notification
    r = await n.post("/v1/contact-points", json=webhook(), headers=platform.h("unit-a"))
    assert r.status_code == 201, r.text
    point_id = r.json()["id"]
    robot = {"kind": "dingtalk", "address": ROBOT, "secret": "SECabcdef0123456789", "person": "联络员"}
    r = await n.post("/v1/contact-points", json=robot, headers=platform.h("unit-a"))
    assert r.status_code == 201, r.text
    await platform.synced()
    r = await n.get("/v1/contact-points", headers=platform.h("unit-a"))
    assert r.status_code == 200 and r.json()["total"] == 2, r.text
    assert SECRET not in r.text and "abcdef0123456789abcdef" not in r.text and "SECabcdef" not in r.text
    by_kind = {p["kind"]: p for p in r.json()["items"]}
    assert by_kind["webhook"]["secret_hint"] == "****CRET"
    assert by_kind["dingtalk"]["address"] == "https://oapi.dingtalk.com/robot/send?access_token=****cdef"
    assert by_kind["dingtalk"]["person"] == "联络员"

    events = await platform.notification_rt.store.read_aggregate("subscription", "unit-a")
    assert SECRET not in json.dumps([e.envelope.payload for e in events])
    configured = ContactPointConfigured.model_validate(events[0].envelope.payload)
    assert configured.secret is not None
    assert SecretBox.from_env("development").open(configured.secret, binding("unit-a", point_id)) == SECRET

    # A label change without a secret keeps the sealed one.
    body = webhook(label="新名称")
    del body["secret"]
    r = await n.put(f"/v1/contact-points/{point_id}", json=body, headers=platform.h("unit-a"))
    assert r.status_code == 200, r.text
    await platform.synced()
    [kept] = [p for p in (await n.get("/v1/contact-points", headers=platform.h("unit-a"))).json()["items"]
              if p["id"] == point_id]  # fmt: skip
    assert kept["label"] == "新名称" and kept["secret_hint"] == "****CRET"


async def test_who_manages_which_settings(platform: Platform) -> None:
    n = platform.notification
    assert (await n.post("/v1/contact-points", json=webhook(), headers=platform.h("unit-a"))).status_code == 201
    for org in ("unit-b", "leader-a", "auditor"):
        r = await n.post("/v1/contact-points", json=webhook(org_id="unit-a"), headers=platform.h(org))
        assert r.status_code == 403, (org, r.text)
        r = await n.get("/v1/contact-points", params={"org_id": "unit-a"}, headers=platform.h(org))
        assert r.status_code == (200 if org == "auditor" else 403), (org, r.text)
    r = await n.post("/v1/contact-points", json=webhook(org_id="unit-b"), headers=platform.h("hq"))
    assert r.status_code == 201, r.text
    await platform.synced()
    point_id = r.json()["id"]
    assert (await n.delete(f"/v1/contact-points/{point_id}", headers=platform.h("unit-a"))).status_code == 403
    assert (await n.delete(f"/v1/contact-points/{point_id}", headers=platform.h("auditor"))).status_code == 403
    assert (await n.delete(f"/v1/contact-points/{point_id}", headers=platform.h("unit-b"))).status_code == 200

    preferences = {"preferences": {"channels": {"urgent": ["dingtalk", "email"], "critical": ["dingtalk", "sms"]},
                                   "quiet_hours": {"start": "22:00", "end": "07:00"}, "digest": "daily"}}  # fmt: skip
    r = await n.put("/v1/preferences", json=preferences, headers=platform.h("unit-a"))
    assert r.status_code == 200, r.text
    assert (await n.put("/v1/preferences", json=preferences, headers=platform.h("auditor"))).status_code == 403
    r = await n.get("/v1/preferences", params={"min_seq": r.json()["seq"]}, headers=platform.h("unit-a"))
    assert r.status_code == 200 and r.json()["preferences"]["digest"] == "daily", r.text
    assert r.json()["preferences"]["channels"]["urgent"] == ["dingtalk", "email"]

    r = await n.post("/v1/subscriptions", json={"event_types": ["StatusLightChanged"]}, headers=platform.h("unit-a"))
    assert r.status_code == 201, r.text
    r = await n.get("/v1/subscriptions", params={"min_seq": r.json()["seq"]}, headers=platform.h("unit-a"))
    assert r.json()["total"] == 1 and r.json()["items"][0]["event_types"] == ["StatusLightChanged"]
    assert (await n.get("/v1/subscriptions", headers=platform.h("auditor"))).status_code == 200

    rules = (await n.get("/v1/routing-rules", headers=platform.h("unit-a"))).json()
    assert rules["total"] == 1 and rules["items"][0]["version"] == 1
    body = {"effective_from": "2024-06-01", "rules": rules["items"][0]["rules"]["rules"], "note": "测试"}
    for org in ("unit-a", "auditor"):
        assert (await n.post("/v1/routing-rules", json=body, headers=platform.h(org))).status_code == 403
    r = await n.post("/v1/routing-rules", json=body, headers=platform.h("hq"))
    assert r.status_code == 201 and r.json()["version"] == 2, r.text


async def test_a_keyed_retry_adds_nothing_and_if_match_guards_preferences(platform: Platform) -> None:
    n = platform.notification
    headers = platform.h("unit-a", **{"Idempotency-Key": "cp-once"})
    first = await n.post("/v1/contact-points", json=webhook(), headers=headers)
    again = await n.post("/v1/contact-points", json=webhook(), headers=headers)
    assert first.status_code == again.status_code == 201 and first.json() == again.json(), (first.text, again.text)
    await platform.synced()
    assert (await n.get("/v1/contact-points", headers=platform.h("unit-a"))).json()["total"] == 1

    body = {"preferences": {"digest": "weekly"}}
    stale = await n.put("/v1/preferences", json=body, headers=platform.h("unit-a", **{"If-Match": "0"}))
    assert stale.status_code == 412 and stale.json()["current_version"] == first.json()["version"], stale.text
    current = str(first.json()["version"])
    r = await n.put("/v1/preferences", json=body, headers=platform.h("unit-a", **{"If-Match": current}))
    assert r.status_code == 200 and r.json()["version"] == first.json()["version"] + 1, r.text


async def test_bad_input_names_the_field(platform: Platform) -> None:
    n = platform.notification
    cases: list[tuple[str, dict[str, Any], str]] = [
        ("/v1/contact-points", webhook(address="http://erp.unit-a.example/hook"), "address"),
        ("/v1/contact-points", {"kind": "email", "address": "不是邮箱"}, "address"),
        ("/v1/contact-points", webhook(colour="red"), "colour"),
        ("/v1/subscriptions", {"event_types": ["ProjectRegistered"]}, "event_types[0]"),
        ("/v1/routing-rules", {"effective_from": "2024-06-01", "rules": [
            {"rule_id": "x", "event_type": "ProjectRegistered", "recipients": ["hq"], "urgency": "normal"}]},
         "rules[0].event_type"),
    ]  # fmt: skip
    for path, body, field in cases:
        r = await n.post(path, json=body, headers=platform.h("hq"))
        assert r.status_code == 422, (path, body, r.text)
        assert r.headers["content-type"].startswith("application/problem+json")
        assert field in [e["field"] for e in r.json()["errors"]], (field, r.json())
    # http on loopback is what development allows (a local receiver of make run).
    local = webhook(address="http://127.0.0.1:9000/hook")
    assert (await n.post("/v1/contact-points", json=local, headers=platform.h("unit-a"))).status_code == 201
