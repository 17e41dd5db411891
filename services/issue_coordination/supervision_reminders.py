"""Reminders (催办) on a cadence until a supervision order is closed: a daily timer (shared.timers, lease-held, one
replica at a time) looks at the moment its period starts and records, for each open order whose next reminder has
come due, one `SupervisionOrderReminded` naming the period and when it came due. The cadence is rule data
(`IssueRules.reminder_every_days`, calendar days): the version in force on the day of the run, so a version
published with another cadence changes when the next reminder of every open order comes.

Exactly once per reminder period: the event id is derived from the order and the period (a second replica or a
re-run after a crash within the stream's dedupe window finds it), and the decision is taken again on the order as
the log has it under its expected sequence (once a period is recorded, the next one is due a cadence later: beyond
the window nothing is due twice).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime

from services.issue_coordination.deadlines import RuleVersion, china_day
from services.issue_coordination.read_model_rules import rule_data
from services.issue_coordination.supervision import (
    OPEN_ORDER,
    OrderState,
    decide_timer_reminder,
    due_reminder,
    reminder_event_id,
)
from services.issue_coordination.supervision_read_model import ORDERS
from services.issue_coordination.versions import in_force
from shared.catalogue.issue_coordination import SupervisionOrderReminded
from shared.catalogue.issue_rules import IssueRules
from shared.commands import execute, load
from shared.envelope import Actor, Role
from shared.eventstore import Context
from shared.runtime import Runtime
from shared.schedule import Period
from shared.settings import Settings
from shared.timers import Timer

SUPERVISION_REMINDERS = "supervision_reminders"
REMINDER = Actor(org_id="platform", role=Role.SYSTEM, user="supervision-reminders")
log = logging.getLogger("tiaodu.issue_coordination")


def cadence_on(rule_versions: Sequence[RuleVersion], at: datetime) -> int:
    """The reminder cadence of the rules in force on the day of `at` (the defaults before any version)."""
    found = in_force(rule_versions, china_day(at))
    return (found.rules if found is not None else IssueRules()).reminder_every_days


async def remind_if_due(rt: Runtime, order_id: str, at: datetime, cadence_days: int, ctx: Context) -> int | None:
    """The reminder period due for one order at `at`, recorded once; None when nothing is due or it is recorded."""
    loaded = await load(rt.pool, rt.store, rt.schema, ORDERS, order_id)
    if loaded.state is None or (due := due_reminder(loaded.state, at, cadence_days)) is None:
        return None
    period = due[0]

    def decide(state: OrderState | None) -> SupervisionOrderReminded | None:
        reminder = None if state is None else decide_timer_reminder(state, at, cadence_days)
        return reminder if reminder is not None and reminder.period == period else None

    outcome = await execute(
        pool=rt.pool, store=rt.store, schema=rt.schema, spec=ORDERS, aggregate_id=order_id, decide=decide,
        context=ctx, event_id=reminder_event_id(order_id, period),
    )  # fmt: skip
    return period if outcome.appended and not outcome.replayed else None


async def run_reminders(rt: Runtime, at: datetime, ctx: Context) -> list[tuple[str, int]]:
    cadence_days = cadence_on((await rule_data(rt.pool, rt.store, rt.schema)).rule_versions, at)
    async with rt.pool.acquire() as conn:
        rows = await conn.fetch(
            f"SELECT id FROM {rt.schema}.supervision_orders WHERE status = ANY($1::text[]) ORDER BY issued_at, id",
            sorted(OPEN_ORDER),
        )  # fmt: skip
    sent = []
    for row in rows:
        period = await remind_if_due(rt, row["id"], at, cadence_days, ctx)
        if period is not None:
            sent.append((row["id"], period))
    return sent


async def remind_day(rt: Runtime, period: Period) -> None:
    sent = await run_reminders(rt, period.start, Context(actor=REMINDER, correlation_id=f"reminders-{period.label}"))
    if sent:
        log.info("supervision reminders %s: %s sent", period.label, len(sent))


def reminder_timer(settings: Settings) -> Timer:
    return Timer(SUPERVISION_REMINDERS, settings.schedule(SUPERVISION_REMINDERS), remind_day)
