"""What the delivery tests share: a recipient's contact points and preferences set through the API, notifications
requested in an inbox as the routing reaction requests them, the delivery log read through the API, and the facts
the tests wait on."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any

from standardwebhooks import Webhook

from services.notification.channels.webhook import new_webhook_secret
from services.notification.read_model_inbox import INBOXES
from shared.catalogue.notification import NotificationRequested
from shared.catalogue.notification_rules import Urgency
from shared.commands import execute
from tests.notification.channels.conftest import Received, Receiver
from tests.notification.conftest import Platform
from tests.platform import SYSTEM_CTX, wait_until

# Facts are waited for this long: the suite shares two cores with other engineers' suites and benchmarks.
WAIT_S = 30.0


async def webhook_point(p: Platform, org: str, receiver: Receiver, **extra: Any) -> str:
    """A webhook contact point of `org` on the local receiver; answers its secret (whsec_...)."""
    secret = new_webhook_secret()
    body = {"org_id": org, "kind": "webhook", "address": f"{receiver.url}/hooks/{org}", "secret": secret, **extra}
    r = await p.notification.post("/v1/contact-points", json=body, headers=p.h("hq"))
    assert r.status_code == 201, r.text
    return secret


async def email_point(p: Platform, org: str, address: str) -> None:
    body = {"org_id": org, "kind": "email", "address": address, "label": "联络员"}
    r = await p.notification.post("/v1/contact-points", json=body, headers=p.h("hq"))
    assert r.status_code == 201, r.text


async def preferences(p: Platform, org: str, **prefs: Any) -> None:
    r = await p.notification.put("/v1/preferences", json={"org_id": org, "preferences": prefs}, headers=p.h("hq"))
    assert r.status_code == 200, r.text
    await p.synced()


async def request(p: Platform, org: str, urgency: str = "urgent", title: str = "问题升级:焦作智能装备产业园") -> str:
    """A notification in `org`'s inbox, appended as the routing reaction appends one."""
    nid = "ntf-" + uuid.uuid4().hex
    requested = NotificationRequested(
        notification_id=nid, source_event_id=str(uuid.uuid4()), source_event_type="IssueEscalated",
        rule_id="issue-escalated", rule_version=1, urgency=Urgency(urgency), title=title,
        body="请于 3 个工作日内协调。",
    )  # fmt: skip
    rt = p.notification_rt
    await execute(pool=rt.pool, store=rt.store, schema=rt.schema, spec=INBOXES, aggregate_id=org,
                  decide=lambda _: requested, context=SYSTEM_CTX)  # fmt: skip
    return nid


async def attempts(p: Platform, nid: str, org: str = "hq") -> list[dict[str, Any]]:
    """The delivery log of one notification, oldest first."""
    r = await p.notification.get("/v1/deliveries", params={"notification_id": nid}, headers=p.h(org))
    assert r.status_code == 200, r.text
    return list(reversed(r.json()["items"]))


async def attempted(p: Platform, nid: str, count: int) -> list[dict[str, Any]]:
    """Wait until `count` attempts of `nid` are in the log; answers them, oldest first."""
    found: list[dict[str, Any]] = []

    async def enough() -> bool:
        nonlocal found
        found = await attempts(p, nid)
        return len(found) >= count

    await wait_until(enough, WAIT_S, f"{count} attempts of {nid}")
    return found


async def status(p: Platform, nid: str) -> str | None:
    async with p.notification_rt.pool.acquire() as conn:
        found: str | None = await conn.fetchval(
            f"SELECT status FROM {p.notification_rt.schema}.deliveries WHERE notification_id = $1", nid
        )
    return found


async def reaches(p: Platform, nid: str, wanted: str) -> None:
    async def there() -> bool:
        return await status(p, nid) == wanted

    await wait_until(there, WAIT_S, f"{nid} {wanted}")


async def queued_until(p: Platform, nid: str) -> datetime | None:
    async with p.notification_rt.pool.acquire() as conn:
        due: datetime | None = await conn.fetchval(
            f"SELECT due_at FROM {p.notification_rt.schema}.delivery_queue WHERE notification_id = $1", nid
        )
    return due


def advance_to(p: Platform, moment: str | datetime) -> None:
    at = datetime.fromisoformat(moment) if isinstance(moment, str) else moment
    if at > p.clock.now():
        p.clock.current = at.astimezone(UTC)


def verified(received: Received, secret: str) -> dict[str, Any]:
    """Checked with the receivers' own library (its signing; the timestamp is the platform's simulated one, which
    its `verify` would reject as too old against the wall clock)."""
    headers = received.headers
    stamp = datetime.fromtimestamp(int(headers["webhook-timestamp"]), UTC)
    expected = Webhook(secret).sign(headers["webhook-id"], stamp, received.body.decode())
    assert expected in headers["webhook-signature"].split(" "), "signature does not verify"
    payload: dict[str, Any] = json.loads(received.body)
    return payload
