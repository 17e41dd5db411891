"""The deadline-near timer (临期提醒): once a day (shared.timers: lease-held, one replica at a time, missed days run
in order after an outage) every open issue and open 督办 order whose deadline is exactly 3 or 1 working days away at
the period's start gets one `IssueDeadlineNeared` / `SupervisionOrderDeadlineNeared`.

Exactly once per aggregate, deadline and threshold: the event id is derived from them (a second replica or a re-run
after a crash within the stream's dedupe window finds it), and the notice is decided again on the aggregate as the
log has it under its expected sequence (beyond the window the aggregate records the notices it was given).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from pydantic import BaseModel

from services.issue_coordination.deadline_notices import due_issue_notice, due_order_notice, notice_event_id
from services.issue_coordination.domain import OPEN
from services.issue_coordination.read_model import ISSUES
from services.issue_coordination.read_model_rules import rule_data
from services.issue_coordination.supervision import OPEN_ORDER
from services.issue_coordination.supervision_read_model import ORDERS
from services.issue_coordination.work_calendar import WorkCalendar
from shared.aggregate_table import AggregateTable
from shared.commands import execute, load
from shared.envelope import Actor, Role
from shared.eventstore import Context
from shared.runtime import Runtime
from shared.schedule import Period
from shared.settings import Settings
from shared.timers import Timer

DEADLINE_NOTICES = "issue_deadline_notices"
NOTIFIER = Actor(org_id="platform", role=Role.SYSTEM, user="deadline-notices")
log = logging.getLogger("tiaodu.issue_coordination")

Due = Callable[[Any, datetime, Sequence[WorkCalendar]], Any]


async def notify_if_due(
    rt: Runtime, spec: AggregateTable[Any], due: Due, aggregate_id: str, at: datetime,
    calendars: Sequence[WorkCalendar], ctx: Context,
) -> int | None:  # fmt: skip
    """The notice due for one aggregate at `at`, appended once: its working days left, or None."""
    loaded = await load(rt.pool, rt.store, rt.schema, spec, aggregate_id)
    if loaded.state is None or (planned := due(loaded.state, at, calendars)) is None:
        return None

    def decide(state: Any) -> BaseModel | None:
        # Decided again on the state the append is guarded by: a notice recorded meanwhile leaves nothing to do.
        notice = None if state is None else due(state, at, calendars)
        return notice if notice == planned else None

    outcome = await execute(
        pool=rt.pool, store=rt.store, schema=rt.schema, spec=spec, aggregate_id=aggregate_id, decide=decide,
        context=ctx, event_id=notice_event_id(aggregate_id, planned.deadline, planned.working_days_left),
    )  # fmt: skip
    return int(planned.working_days_left) if outcome.appended and not outcome.replayed else None


async def _open_ids(rt: Runtime, table: str, statuses: frozenset[Any]) -> list[str]:
    async with rt.pool.acquire() as conn:
        rows = await conn.fetch(
            f"SELECT id FROM {rt.schema}.{table} WHERE status = ANY($1::text[]) AND deadline IS NOT NULL"
            " ORDER BY deadline, id",
            sorted(s.value for s in statuses),
        )  # fmt: skip
    return [row["id"] for row in rows]


async def run_deadline_notices(rt: Runtime, at: datetime, ctx: Context) -> list[tuple[str, int]]:
    """Every open issue and order whose deadline is 3 or 1 working days away at `at` (pauses counted, as the
    deadline can only move later, every open one is a candidate), noticed once: (id, working days left) appended."""
    calendars = (await rule_data(rt.pool, rt.store, rt.schema)).calendars
    sent = []
    for spec, due, table, statuses in (
        (ISSUES, due_issue_notice, "issues", OPEN), (ORDERS, due_order_notice, "supervision_orders", OPEN_ORDER),
    ):  # fmt: skip
        for aggregate_id in await _open_ids(rt, table, statuses):
            left = await notify_if_due(rt, spec, due, aggregate_id, at, calendars, ctx)
            if left is not None:
                sent.append((aggregate_id, left))
    return sent


async def notice_day(rt: Runtime, period: Period) -> None:
    ctx = Context(actor=NOTIFIER, correlation_id=f"deadline-notices-{period.label}")
    sent = await run_deadline_notices(rt, period.start, ctx)
    if sent:
        log.info("deadline notices %s: %s recorded", period.label, len(sent))


def deadline_notice_timer(settings: Settings) -> Timer:
    return Timer(DEADLINE_NOTICES, settings.schedule(DEADLINE_NOTICES), notice_day)
