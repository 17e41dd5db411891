"""The delivery engine against real peers (a local webhook receiver, a real SMTP server) on the injected clock:
retries with backoff against a peer that fails N times, the fallback chain, the dead letter and its resend with
the same key, quiet hours and the critical bypass, and end to end from an issue escalation to a signed webhook."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta

import pytest

from tests.notification.channels.conftest import Answer, Receiver, receiver
from tests.notification.channels.test_mail import Mailbox, SmtpServer, serve
from tests.notification.conftest import DEADLINE, Platform
from tests.notification.delivery_helpers import (
    WAIT_S,
    advance_to,
    attempted,
    attempts,
    email_point,
    preferences,
    queued_until,
    reaches,
    request,
    verified,
    webhook_point,
)
from tests.notification.test_inbox_as_of import inbox_then
from tests.platform import wait_until

__all__ = ["receiver"]  # the receiver fixture, used by name


@pytest.fixture(autouse=True)
def smtp(monkeypatch: pytest.MonkeyPatch) -> Iterator[SmtpServer]:
    """A real SMTP server; the platform's services start after it (autouse), so they send their mail there."""
    for server in serve(Mailbox()):
        monkeypatch.setenv("TIAODU_SMTP_URL", server.url)
        yield server


async def test_a_peer_that_fails_twice_gets_the_same_webhook_id_on_each_retry_on_the_schedule(
    platform: Platform, receiver: Receiver
) -> None:
    receiver.script = [Answer(503, "维护中"), Answer(429, "too fast", headers={"retry-after": "40"})]
    secret = await webhook_point(platform, "unit-b", receiver)
    await platform.synced()
    nid = await request(platform, "unit-b")

    [first] = await attempted(platform, nid, 1)
    assert (first["channel"], first["outcome"], first["status_code"]) == ("webhook", "retryable", 503)
    assert first["response"] == "维护中" and first["round"] == 1 and first["attempt"] == 1
    wait = datetime.fromisoformat(first["next_attempt_at"]) - datetime.fromisoformat(first["attempted_at"])
    assert timedelta(seconds=5) <= wait <= timedelta(seconds=15)  # the first retry within 15 s

    advance_to(platform, first["next_attempt_at"])
    second = (await attempted(platform, nid, 2))[1]
    assert (second["outcome"], second["status_code"]) == ("retryable", 429)
    # The peer's Retry-After (40 s) is longer than the backoff (about 20 s): it is followed.
    later = datetime.fromisoformat(second["next_attempt_at"]) - datetime.fromisoformat(second["attempted_at"])
    assert later == timedelta(seconds=40)

    advance_to(platform, second["next_attempt_at"])
    third = (await attempted(platform, nid, 3))[2]
    assert (third["outcome"], third["status_code"], third["next_attempt_at"]) == ("delivered", 200, None)
    await reaches(platform, nid, "delivered")

    assert [r.headers["webhook-id"] for r in receiver.received] == [nid] * 3  # one key: the receiver drops repeats
    payload = verified(receiver.received[-1], secret)
    assert payload["type"] == "IssueEscalated" and payload["data"]["urgency"] == "high"
    assert payload["data"]["details"]["notification_id"] == nid
    [entry] = (await platform.inbox("unit-b"))["items"]
    assert (entry["id"], entry["status"], entry["attempts"]) == (nid, "delivered", 3)


async def test_a_channel_that_keeps_failing_falls_back_to_e_mail(
    platform: Platform, receiver: Receiver, smtp: SmtpServer
) -> None:
    receiver.default = Answer(502, "bad gateway")
    await webhook_point(platform, "unit-b", receiver)
    await email_point(platform, "unit-b", "lianluoyuan@unit-b.example")
    await preferences(platform, "unit-b", channels={"urgent": ["webhook", "email"]})
    nid = await request(platform, "unit-b", title="问题升级:焦作市中心医院新院区")

    for n in (1, 2):
        tried = await attempted(platform, nid, n)
        advance_to(platform, tried[-1]["next_attempt_at"])
    log = await attempted(platform, nid, 4)
    assert [(a["channel"], a["outcome"]) for a in log] == [("webhook", "retryable")] * 3 + [("email", "delivered")]
    assert log[2]["next_attempt_at"] == log[2]["attempted_at"]  # the fallback goes at once, no backoff
    await reaches(platform, nid, "delivered")
    [mail] = smtp.mailbox.messages
    assert mail["To"].addresses[0].addr_spec == "lianluoyuan@unit-b.example"
    assert "焦作市中心医院新院区" in str(mail["Subject"])
    assert mail["Message-ID"].startswith(f"<{nid}@")  # the same key as the webhooks: a resend is recognisable
    assert len(receiver.received) == 3


async def test_after_the_last_try_a_dead_letter_that_hq_resends_with_the_same_key(
    platform: Platform, receiver: Receiver
) -> None:
    receiver.default = Answer(500, "内部错误")
    await webhook_point(platform, "unit-b", receiver)
    await platform.synced()
    nid = await request(platform, "unit-b")
    for n in range(1, 6):
        tried = await attempted(platform, nid, n)
        advance_to(platform, tried[-1]["next_attempt_at"])
    log = await attempted(platform, nid, 6)
    assert log[-1]["next_attempt_at"] is None
    spent = datetime.fromisoformat(log[-1]["attempted_at"]) - datetime.fromisoformat(log[0]["attempted_at"])
    assert spent <= timedelta(minutes=10)  # at least 5 attempts within 10 minutes
    await reaches(platform, nid, "failed")
    dead_letter_moment = platform.clock.now().isoformat()
    platform.clock.advance(timedelta(seconds=1))  # hq resends after the moment of the dead letter

    r = await platform.notification.get("/v1/dead-letters", headers=platform.h("hq"))
    assert r.status_code == 200, r.text
    [dead] = r.json()["items"]
    assert (dead["id"], dead["org_id"], dead["attempts"], dead["last_channel"]) == (nid, "unit-b", 6, "webhook")
    assert "已尝试 6 次" in dead["reason"]
    assert (await platform.notification.get("/v1/dead-letters", headers=platform.h("auditor"))).status_code == 200
    assert (await platform.notification.get("/v1/dead-letters", headers=platform.h("unit-b"))).status_code == 403
    mine = await platform.notification.get("/v1/deliveries", headers=platform.h("unit-b"))
    assert mine.json()["total"] == 6  # an organisation reads its own delivery log
    others = await platform.notification.get("/v1/deliveries", params={"recipient": "unit-b"},
                                             headers=platform.h("unit-a"))  # fmt: skip
    assert others.status_code == 403 and others.json()["errors"][0]["field"] == "org_id"

    denied = await platform.notification.post(f"/v1/dead-letters/{nid}/resend", headers=platform.h("unit-b"))
    assert denied.status_code == 403
    r = await platform.notification.post(f"/v1/dead-letters/{nid}/resend", json={"note": "对方系统已恢复"},
                                         headers=platform.h("hq"))  # fmt: skip
    assert r.status_code == 202, r.text
    # The peer still fails the new round's first try: the inbox shows it resending (no longer a dead letter) while
    # the round is open, and the clock stands still, so the round stays open while we look.
    first = (await attempted(platform, nid, 7))[-1]
    assert (first["round"], first["outcome"], first["attempt"]) == (2, "retryable", 7), first

    async def inbox_shows_resending() -> bool:
        [item] = [i for i in (await platform.inbox("unit-b"))["items"] if i["id"] == nid]
        return bool(item["status"] == "resending")

    await wait_until(inbox_shows_resending, 30, "the inbox shows the resend")
    assert (await platform.notification.get("/v1/dead-letters", headers=platform.h("hq"))).json()["total"] == 0
    receiver.default = Answer(200, "ok")
    advance_to(platform, first["next_attempt_at"])
    again = (await attempted(platform, nid, 8))[-1]
    assert (again["round"], again["outcome"], again["attempt"]) == (2, "delivered", 8)
    await reaches(platform, nid, "delivered")
    assert {r.headers["webhook-id"] for r in receiver.received} == {nid}
    r = await platform.notification.get("/v1/dead-letters", headers=platform.h("hq"))
    assert r.json()["total"] == 0
    twice = await platform.notification.post(f"/v1/dead-letters/{nid}/resend", headers=platform.h("hq"))
    assert twice.status_code == 409 and twice.json()["errors"][0]["field"] == "notification_id"
    filtered = await platform.notification.get(
        "/v1/deliveries", params={"recipient": "unit-b", "channel": "webhook", "outcome": "delivered",
                                  "period": "2024-01"}, headers=platform.h("hq"),
    )  # fmt: skip
    assert [a["attempt"] for a in filtered.json()["items"]] == [8]
    bad = await platform.notification.get("/v1/deliveries", params={"period": "2024-13"}, headers=platform.h("hq"))
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "period"

    # The inbox as of the dead letter, before hq resent it (folded from the log): failed after 6 tries then.
    [then] = [i for i in (await inbox_then(platform, "unit-b", dead_letter_moment))["items"] if i["id"] == nid]
    [now] = [i for i in (await platform.inbox("unit-b"))["items"] if i["id"] == nid]
    assert (then["status"], then["attempts"], now["status"], now["attempts"]) == ("failed", 6, "delivered", 8)


async def test_quiet_hours_defer_until_their_end_and_critical_goes_through(
    platform: Platform, receiver: Receiver
) -> None:
    await webhook_point(platform, "unit-b", receiver)
    await preferences(platform, "unit-b", quiet_hours={"start": "22:00", "end": "07:00"})
    advance_to(platform, "2024-01-01T23:00:00+08:00")
    normal = await request(platform, "unit-b", urgency="normal", title="进度填报提醒")

    async def deferred() -> bool:
        return await queued_until(platform, normal) == datetime.fromisoformat("2024-01-02T07:00:00+08:00")

    await wait_until(deferred, WAIT_S, "the normal notification deferred to 07:00")
    critical = await request(platform, "unit-b", urgency="critical", title="重大安全事故")
    await reaches(platform, critical, "delivered")
    assert [r.headers["webhook-id"] for r in receiver.received] == [critical]
    assert await attempts(platform, normal) == []  # deferred, not tried, not dropped

    advance_to(platform, "2024-01-02T07:00:00+08:00")
    await reaches(platform, normal, "delivered")
    assert [r.headers["webhook-id"] for r in receiver.received] == [critical, normal]


async def test_end_to_end_from_an_issue_escalation_to_a_signed_webhook_and_an_inbox_entry(
    platform: Platform, receiver: Receiver
) -> None:
    secret = await webhook_point(platform, "unit-b", receiver)
    project_id = await platform.project(name="焦作智能装备产业园")
    issue_id = await platform.raise_issue(project_id)
    await platform.act(issue_id, "assignment", "hq", {"lead_unit_id": "unit-b", "deadline": DEADLINE})
    await platform.act(issue_id, "escalations", "hq", {"reason": "涉及多个部门,责任单位无法独立协调", "to_level": "hq"})
    await receiver.wait_for(2)
    await platform.synced()
    page = await platform.inbox("unit-b")
    by_rule = {item["rule_id"]: item for item in page["items"]}
    escalated = by_rule["issue-escalated"]
    delivered = {r.headers["webhook-id"]: verified(r, secret) for r in receiver.received}
    payload = delivered[escalated["id"]]
    assert payload["type"] == "IssueEscalated"
    assert payload["data"]["title"] == escalated["title"] == "问题升级至指挥部办公室:焦作智能装备产业园"
    assert payload["data"]["details"]["link"] == {"kind": "issue", "id": issue_id, "project_id": project_id}
    await reaches(platform, escalated["id"], "delivered")
    assert (await platform.inbox("unit-b"))["items"][0]["status"] == "delivered"
    assert set(delivered) == {item["id"] for item in page["items"]}
    # Every step of the delivery carries what caused the notification: one trace from the escalation on.
    events = await platform.notification_rt.store.read_aggregate("inbox", "unit-b")
    mine = [e for e in events if e.envelope.payload.get("notification_id") == escalated["id"]]
    assert [e.envelope.type for e in mine] == ["NotificationRequested", "DeliveryAttempted", "NotificationDelivered"]
    requested = mine[0].envelope
    assert {e.envelope.correlation_id for e in mine} == {requested.correlation_id}
    assert {e.envelope.causation_id for e in mine[1:]} == {str(requested.id)}
