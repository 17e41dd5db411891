"""A crash mid-send loses nothing and double-sends only what the receivers drop: a real `python -m
services.notification` process works a batch of notifications and is SIGKILLed between a peer's 2xx and the record
of that attempt (TIAODU_FAULT_KILL_AFTER_SEND, the worst moment); it restarts, and the receiver counts: every
notification arrived, the only repeats carry a webhook-id already seen, each is recorded delivered once, nothing is
parked."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import signal
import sys
import tempfile
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import httpx

from services.intake.bootstrap import create_app as create_intake
from services.notification.channels.webhook import new_webhook_secret
from services.notification.read_model_inbox import INBOXES
from shared.catalogue.notification import NotificationRequested
from shared.catalogue.notification_rules import Urgency
from shared.commands import execute
from shared.devstack.embedded import free_port, tail
from shared.settings import Settings
from tests.notification.channels.conftest import Receiver, receiver
from tests.platform import SYSTEM_CTX, auth, bootstrap_orgs, running, runtime_of, wait_until

__all__ = ["receiver"]  # the receiver fixture, used by name

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = "notification"
NOTIFICATIONS = 20
KILL_AFTER = 3  # the process dies once the peer answered its third send, before that attempt is recorded


def service_env(settings: Settings, replica: str, port: int, **extra: str) -> dict[str, str]:
    keep = {k: v for k, v in os.environ.items() if not k.startswith(("NATS_", "TIAODU_", "DATABASE_"))}
    return keep | {
        "NATS_URL": settings.nats_url, "DATABASE_URL": settings.database_url, "TIAODU_STREAM": settings.stream,
        "TIAODU_SUBJECT_PREFIX": settings.subject_prefix, "PYTHONPATH": str(ROOT), "REPLICA_ID": replica,
        "SERVICE_PORT": str(port), **extra,
    }  # fmt: skip


@dataclass
class Service:
    proc: asyncio.subprocess.Process
    url: str
    log: Path


@asynccontextmanager
async def notification_process(settings: Settings, replica: str, **extra: str) -> AsyncIterator[Service]:
    port = free_port()
    log = Path(tempfile.mkdtemp(prefix="tiaodu-delivery-crash-")) / f"{replica}.log"
    with log.open("wb") as out:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "services.notification", cwd=ROOT,
            env=service_env(settings, replica, port, **extra), stdout=out, stderr=out,
        )  # fmt: skip
    service = Service(proc, f"http://127.0.0.1:{port}", log)
    try:
        async with httpx.AsyncClient(trust_env=False, timeout=2.0) as client:

            async def ready() -> bool:
                assert proc.returncode is None, f"{replica} exited early:\n{tail(log, 40)}"
                try:
                    return (await client.get(f"{service.url}/readyz")).status_code == 200
                except httpx.HTTPError:
                    return False

            await wait_until(ready, 60, f"{replica} ready")
        yield service
    finally:
        if proc.returncode is None:
            proc.terminate()
            try:
                await asyncio.wait_for(proc.wait(), 10)
            except TimeoutError:
                proc.kill()
                await proc.wait()


async def test_a_process_killed_between_the_peers_2xx_and_the_record_loses_nothing(
    settings: Settings, receiver: Receiver
) -> None:
    intake_app = create_intake(dataclasses.replace(settings, replica_id="intake-1"))
    async with AsyncExitStack() as stack:
        await stack.enter_async_context(running(intake_app))
        store = runtime_of(intake_app).store
        tokens = await bootstrap_orgs(store)
        pool = await asyncpg.create_pool(settings.database_url, min_size=1, max_size=3)
        stack.push_async_callback(pool.close)

        first = await stack.enter_async_context(
            notification_process(settings, "notification-1", TIAODU_FAULT_KILL_AFTER_SEND=str(KILL_AFTER))
        )
        async with httpx.AsyncClient(base_url=first.url, timeout=10) as client:
            point = {"org_id": "unit-b", "kind": "webhook", "address": f"{receiver.url}/hooks/unit-b",
                     "secret": new_webhook_secret()}  # fmt: skip
            r = await client.post("/v1/contact-points", json=point, headers=auth(tokens["hq"]))
            assert r.status_code == 201, r.text
            seq = r.json()["seq"]
            r = await client.get("/v1/contact-points", params={"org_id": "unit-b", "min_seq": seq},
                                 headers=auth(tokens["hq"]))  # fmt: skip
            assert r.json()["total"] == 1

        ids = []
        for n in range(NOTIFICATIONS):
            nid = f"ntf-crash-{n:02d}-{uuid.uuid4().hex[:8]}"
            requested = NotificationRequested(
                notification_id=nid, source_event_id=str(uuid.uuid4()), source_event_type="IssueEscalated",
                rule_id="issue-escalated", rule_version=1, urgency=Urgency.URGENT, title=f"问题升级 {n}", body="请协调",
            )  # fmt: skip
            await execute(pool=pool, store=store, schema=SCHEMA, spec=INBOXES, aggregate_id="unit-b",
                          decide=lambda _, r=requested: r, context=SYSTEM_CTX)  # fmt: skip
            ids.append(nid)

        async def killed() -> bool:
            return first.proc.returncode is not None

        await wait_until(killed, 60, "the first process killed itself after a send")
        assert first.proc.returncode == -signal.SIGKILL, tail(first.log, 40)
        answered_before_the_kill = [r.headers["webhook-id"] for r in receiver.received]
        assert len(answered_before_the_kill) == KILL_AFTER
        unrecorded = answered_before_the_kill[-1]
        async with pool.acquire() as conn:
            recorded = await conn.fetchval(
                f"SELECT count(*) FROM {SCHEMA}.delivery_attempts WHERE notification_id = $1", unrecorded
            )
        assert recorded == 0, "the kill came after the attempt was recorded"

        await stack.enter_async_context(notification_process(settings, "notification-1"))  # the restart

        async def all_delivered() -> bool:
            async with pool.acquire() as conn:
                done = await conn.fetchval(
                    f"SELECT count(*) FROM {SCHEMA}.deliveries WHERE org_id = 'unit-b' AND status = 'delivered'"
                )
            return bool(done == NOTIFICATIONS)

        await wait_until(all_delivered, 60, "every notification recorded delivered")

    counts = Counter(r.headers["webhook-id"] for r in receiver.received)
    assert set(counts) == set(ids)  # every notification arrived
    assert {nid for nid, n in counts.items() if n > 1} == {unrecorded}  # the one repeat: the same webhook-id
    assert counts[unrecorded] == 2
    async with asyncpg.create_pool(settings.database_url, min_size=1, max_size=1) as check:
        rows = await check.fetch(
            f"SELECT notification_id, count(*) AS n, bool_and(outcome = 'delivered') AS ok"
            f" FROM {SCHEMA}.delivery_attempts GROUP BY notification_id"
        )
        assert {r["notification_id"]: (r["n"], r["ok"]) for r in rows} == {nid: (1, True) for nid in ids}
        assert await check.fetchval(f"SELECT count(*) FROM {SCHEMA}._dead_letter") == 0  # nothing parked
        assert await check.fetchval(f"SELECT count(*) FROM {SCHEMA}.delivery_queue") == 0
