"""Digests: timers (shared.timers: lease-held, once per period across replicas and restarts) that gather what was
held for a recipient's daily or weekly digest into one notification, and give every sponsoring leader (包保市领导)
a weekly digest of the projects it sponsors.

A digest is a NotificationRequested in the recipient's inbox whose `digest_of` names the notifications it gathers;
its id (and its event's) derives from the recipient, the kind and the period, and it is decided on the inbox as the
log has it: a second replica, a re-run after a crash or a restart finds it there and appends nothing. It then goes
out like any notification (retries, fallback, quiet hours), never into another digest.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from services.notification.delivery_state import DeliveryState, delivery_event_id
from services.notification.read_model_deliveries import DeliverySpec
from shared.catalogue.notification import Digest, Link, LinkKind, NotificationRequested
from shared.catalogue.notification_rules import Urgency
from shared.commands import execute
from shared.envelope import Actor, Role
from shared.eventstore import Context
from shared.runtime import Runtime
from shared.schedule import Period
from shared.settings import Settings
from shared.timers import Timer

log = logging.getLogger("tiaodu.notification.digests")

DIGEST_DAILY = "notification_digest_daily"
DIGEST_WEEKLY = "notification_digest_weekly"
LEADER_DIGEST = "leader_weekly_digest"
DIGESTER = Actor(org_id="platform", role=Role.SYSTEM, user="notification:digests")
DIGEST_NAMESPACE = uuid.UUID("b7e3c2a1-4d5f-4e60-9a8b-1c2d3e4f5a6b")
MAX_LINES = 50  # lines of a digest's body; the rest is counted
URGENCY_TAGS = {"info": "", "normal": "", "urgent": "【紧急】", "critical": "【特急】"}


def digest_id(org_id: str, kind: str, period: Period) -> str:
    return "dig-" + uuid.uuid5(DIGEST_NAMESPACE, f"{org_id}|{kind}|{period.label}").hex


def week_label(period: Period) -> str:
    """The ISO week the digest looks back on (the one before the period's start)."""
    year, week, _ = (period.day - timedelta(days=1)).isocalendar()
    return f"{year}-W{week:02d}"


def gathered_body(rows: Sequence[Any]) -> str:
    lines = [f"- {URGENCY_TAGS.get(r['urgency'], '')}{r['title']}" for r in rows[:MAX_LINES]]
    if len(rows) > MAX_LINES:
        lines.append(f"……另有 {len(rows) - MAX_LINES} 条,请到消息中心查看")
    return "\n".join(lines)


async def request_digest(rt: Runtime, org_id: str, request: NotificationRequested, ctx: Context) -> bool:
    """Append the digest once; False when it is there already."""

    def decide(state: DeliveryState | None) -> NotificationRequested | None:
        return request if state is None else None

    outcome = await execute(
        pool=rt.pool, store=rt.store, schema=rt.schema, spec=DeliverySpec(request.notification_id),
        aggregate_id=org_id, decide=decide, context=ctx, event_id=delivery_event_id(request.notification_id, "digest"),
    )  # fmt: skip
    return outcome.appended and not outcome.replayed


async def gather(rt: Runtime, period: Period, cadence: Digest) -> list[str]:
    """Every recipient's notifications held for this cadence before the period began, as one digest each."""
    at = period.start
    # The projection must have applied every notification held before the period (the log is the truth; the
    # rows only list them).
    await rt.runner.wait_for(await rt.store.last_seq(), 10.0)
    async with rt.pool.acquire() as conn:
        rows = await conn.fetch(
            f"SELECT d.org_id, n.notification_id, n.title, n.urgency FROM {rt.schema}.deliveries d"
            f" JOIN {rt.schema}.notifications n USING (notification_id)"
            " WHERE d.status = 'digest' AND d.state->>'digest' = $1 AND n.recorded_at < $2"
            " ORDER BY d.org_id, n.seq",
            cadence.value, at,
        )  # fmt: skip
    by_org: dict[str, list[Any]] = {}
    for row in rows:
        by_org.setdefault(row["org_id"], []).append(row)
    kind = f"digest-{cadence.value}"
    when = period.day.isoformat() if cadence is Digest.DAILY else week_label(period)
    title = f"{'每日' if cadence is Digest.DAILY else '每周'}通知汇总({when},共 {{n}} 条)"
    ctx = Context(actor=DIGESTER, correlation_id=f"{kind}-{period.label}")
    sent = []
    for org_id, held in by_org.items():
        chunk = held[:500]
        request = NotificationRequested(
            notification_id=digest_id(org_id, kind, period), source_event_id=f"{kind}:{period.label}",
            source_event_type="NotificationDigest", rule_id=kind, rule_version=1, urgency=Urgency.NORMAL,
            title=title.format(n=len(chunk)), body=gathered_body(chunk),
            digest_of=[r["notification_id"] for r in chunk],
        )  # fmt: skip
        if await request_digest(rt, org_id, request, ctx):
            sent.append(org_id)
    return sent


async def leader_digests(rt: Runtime, period: Period) -> list[str]:
    """To each sponsoring leader: its sponsored projects and what was notified about each in the week before."""
    end = period.start
    start = end - timedelta(days=7)
    await rt.runner.wait_for(await rt.store.last_seq(), 10.0)
    async with rt.pool.acquire() as conn:
        projects = await conn.fetch(
            f"SELECT p.sponsor_leader_id AS leader, p.id AS project_id, p.name, p.phase,"
            f" (SELECT count(*) FROM {rt.schema}.notifications n WHERE n.project_id = p.id"
            "   AND n.recorded_at >= $1 AND n.recorded_at < $2) AS notices"
            f" FROM {rt.schema}.project_directory p WHERE p.sponsor_leader_id IS NOT NULL"
            " ORDER BY p.sponsor_leader_id, p.name, p.id",
            start, end,
        )  # fmt: skip
    by_leader: dict[str, list[Any]] = {}
    for row in projects:
        by_leader.setdefault(row["leader"], []).append(row)
    week = week_label(period)
    ctx = Context(actor=DIGESTER, correlation_id=f"{LEADER_DIGEST}-{period.label}")
    sent = []
    for leader, rows in by_leader.items():
        lines = [f"- {r['name']}({r['phase']}):本周通知 {r['notices']} 条" for r in rows[:MAX_LINES]]
        if len(rows) > MAX_LINES:
            lines.append(f"……另有 {len(rows) - MAX_LINES} 个项目")
        request = NotificationRequested(
            notification_id=digest_id(leader, LEADER_DIGEST, period), source_event_id=f"{LEADER_DIGEST}:{period.label}",
            source_event_type="LeaderWeeklyDigest", rule_id=LEADER_DIGEST, rule_version=1, urgency=Urgency.NORMAL,
            title=f"包保项目周报({week},{len(rows)} 个项目)", body="\n".join(lines),
            link=Link(kind=LinkKind.PROJECT, id=rows[0]["project_id"], project_id=rows[0]["project_id"]),
        )  # fmt: skip
        if await request_digest(rt, leader, request, ctx):
            sent.append(leader)
    return sent


async def daily(rt: Runtime, period: Period) -> None:
    sent = await gather(rt, period, Digest.DAILY)
    log.info("daily digests %s: %s", period.label, len(sent))


async def weekly(rt: Runtime, period: Period) -> None:
    sent = await gather(rt, period, Digest.WEEKLY)
    log.info("weekly digests %s: %s", period.label, len(sent))


async def leaders(rt: Runtime, period: Period) -> None:
    sent = await leader_digests(rt, period)
    log.info("leader weekly digests %s: %s", period.label, len(sent))


def digest_timers(settings: Settings) -> list[Timer]:
    return [
        Timer(DIGEST_DAILY, settings.schedule(DIGEST_DAILY), daily, catch_up=2),
        Timer(DIGEST_WEEKLY, settings.schedule(DIGEST_WEEKLY), weekly, catch_up=1),
        Timer(LEADER_DIGEST, settings.schedule(LEADER_DIGEST), leaders, catch_up=1),
    ]
