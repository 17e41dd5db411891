"""Demo contact points and inboxes, through the public API (after intake's and scheduling's seeds, before the rest).

    python -m services.notification.seed --base-url URL --token HQ_TOKEN

hq gives every demo organisation an e-mail contact point (read by a unit's 联络员, a leader's secretary, hq's and
supervision's 值班室; hq and supervision prefer it to their webhook); when TIAODU_DEMO_RECEIVER_URL names a local
receiver (make run's, shared/devstack/demo_receiver.py), a webhook contact point with a fresh Standard Webhooks
secret too, written first into TIAODU_DEMO_RECEIVER_SECRETS (a private file) so that the receiver verifies what it
gets. The inboxes fill themselves: the notification service reacted to the seeds' events as they were appended
(lights turned red or yellow in the nine months scheduling's seed lived, overdue milestones, missing reports); this
seed waits until hq, supervision, at least one unit and one leader have messages, and says how many. The seeds after
it (issue coordination: issues assigned and escalated, the 督办 order, the meeting and its decisions) find the contact
points in place, so a newcomer sees those deliveries at the receiver. Every write carries an Idempotency-Key: a
re-run appends nothing twice.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import time
from pathlib import Path
from typing import Any

import httpx

from shared.devstack.seed_client import SeedError, check, seed_http_client, seed_main

# Whose demo data this seed builds on (read by the runner, shared/devstack/seeds.py).
SEED_AFTER: tuple[str, ...] = ("intake", "scheduling")

TOKENS_ENV = "TIAODU_DEMO_TOKENS"
RECEIVER_ENV = "TIAODU_DEMO_RECEIVER_URL"
RECEIVER_SECRETS_ENV = "TIAODU_DEMO_RECEIVER_SECRETS"
# Their own duty office reads e-mail first: the demo shows a preference beside the units' default (webhook first).
EMAIL_FIRST = ("hq", "supervision")
WAIT_S = 180.0  # the reaction may still be working through the history the scheduling seed lived


def demo_tokens() -> dict[str, Any]:
    raw = os.environ.get(TOKENS_ENV)
    if not raw:
        raise SeedError(f"{TOKENS_ENV} is not set: the seed reads the demo organisations' inboxes (make run sets it)")
    tokens: dict[str, Any] = json.loads(raw)
    return tokens


def organisations(tokens: dict[str, Any]) -> dict[str, tuple[str, str]]:
    """org id -> (its token, the named person its contact point reaches)."""
    found: dict[str, tuple[str, str]] = {}
    for org, token in tokens.get("units", {}).items():
        found[org] = (token, "联络员")
    for org, token in tokens.get("leaders", {}).items():
        found[org] = (token, "秘书")
    for org in ("hq", "supervision"):
        if isinstance(tokens.get(org), str):
            found[org] = (tokens[org], "值班室")
    return found


def receiver_secrets(orgs: list[str]) -> dict[str, str]:
    """A Standard Webhooks secret per org, kept in the receiver's file (0600, never printed): a re-run of the seed
    (whose keyed writes answer as the first did) reuses the secrets the contact points were configured with."""
    raw = os.environ.get(RECEIVER_SECRETS_ENV)
    if not raw:
        raise SeedError(f"{RECEIVER_ENV} is set but {RECEIVER_SECRETS_ENV} is not: the receiver could not verify")
    path = Path(raw)
    known: dict[str, str] = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
    for org in orgs:
        known.setdefault(org, "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode())
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(known, fh)
    return known


def _contact_points(client: httpx.Client, hq: str, org: str, person: str, hook_secret: str | None) -> None:
    auth = {"Authorization": f"Bearer {hq}"}
    # The mailbox is the organisation's own (person None), labelled with who reads it: no routing rule names a person
    # yet, and a contact point of a named person is used only for notifications naming that person.
    email = {"org_id": org, "kind": "email", "address": f"{org}@demo.tiaodu.local", "label": f"{person}邮箱(演示)"}
    headers = auth | {"Idempotency-Key": f"seed-notification-email-{org}"}
    check(client.post("/v1/contact-points", json=email, headers=headers), f"contact point of {org}")
    receiver = os.environ.get(RECEIVER_ENV)
    if receiver and hook_secret:
        headers = auth | {"Idempotency-Key": f"seed-notification-webhook-{org}"}
        hook = {"org_id": org, "kind": "webhook", "address": f"{receiver.rstrip('/')}/webhooks/{org}",
                "label": "本地演示接收端", "secret": hook_secret}  # fmt: skip
        check(client.post("/v1/contact-points", json=hook, headers=headers), f"webhook of {org}")
    if org in EMAIL_FIRST:
        chain = ["email", "webhook"]
        body = {
            "org_id": org,
            "preferences": {"channels": {u: chain for u in ("info", "normal", "urgent", "critical")}},
        }
        headers = auth | {"Idempotency-Key": f"seed-notification-preferences-{org}"}
        check(client.put("/v1/preferences", json=body, headers=headers), f"preferences of {org}")


def _unread(client: httpx.Client, token: str) -> int:
    r = check(client.get("/v1/inbox/unread-count", headers={"Authorization": f"Bearer {token}"}), "unread count")
    count: int = r.json()["unread"]
    return count


def _wait_for_inboxes(client: httpx.Client, orgs: dict[str, tuple[str, str]], tokens: dict[str, Any]) -> dict[str, int]:
    """Until hq, supervision, some unit and some leader have messages (the reaction works through the seeds' events)."""
    roles = {"hq": ["hq"], "supervision": ["supervision"], "unit": list(tokens.get("units", {})),
             "leader": list(tokens.get("leaders", {}))}  # fmt: skip
    deadline = time.monotonic() + WAIT_S
    while True:
        counts = {org: _unread(client, token) for org, (token, _) in orgs.items()}
        empty = [role for role, members in roles.items() if members and not any(counts.get(m) for m in members)]
        if not empty:
            return counts
        if time.monotonic() > deadline:
            raise SeedError(f"no notification reached the demo's {empty} inboxes within {WAIT_S:g} s")
        time.sleep(0.5)


def seed(base_url: str, token: str) -> int:
    tokens = demo_tokens()
    orgs = organisations(tokens)
    with seed_http_client(base_url, timeout=60) as client:
        hook_secrets = receiver_secrets(list(orgs)) if os.environ.get(RECEIVER_ENV) else {}
        for org, (_, person) in orgs.items():
            _contact_points(client, token, org, person, hook_secrets.get(org))
        counts = _wait_for_inboxes(client, orgs, tokens)
    print(f"contact points for {len(orgs)} demo organisations; unread notifications: {sum(counts.values())}"
          f" ({', '.join(f'{org} {n}' for org, n in sorted(counts.items()) if n)})")  # fmt: skip
    return 0


def main() -> None:
    seed_main("python -m services.notification.seed", seed)


if __name__ == "__main__":
    main()
