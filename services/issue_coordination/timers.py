"""issue_coordination's timers (shared.timers): the escalation ladder, once a day across replicas and restarts (and
beside it the 督办 reminders, supervision_reminders.py, and the deadline-near notices, deadline_notice_runs.py).

The run of a day looks at the moment its period starts (by default 18:30 China time, after the working day's end at
18:00): what had passed its deadline by then climbs one step. Each step's event id is derived from the issue and the
level it reaches, and the step is decided on the issue as the log has it, so a re-run (another replica after this one
died mid-run, a restart, hq's run of the same day) appends nothing twice.
"""

from __future__ import annotations

import logging

from services.issue_coordination.deadline_notice_runs import deadline_notice_timer
from services.issue_coordination.escalation_runs import run_escalations
from services.issue_coordination.supervision_reminders import reminder_timer
from shared.envelope import Actor, Role
from shared.eventstore import Context
from shared.runtime import Runtime
from shared.schedule import Period
from shared.settings import Settings
from shared.timers import Timer

ISSUE_ESCALATION = "issue_escalation"
ESCALATOR = Actor(org_id="platform", role=Role.SYSTEM, user="issue-escalation")
log = logging.getLogger("tiaodu.issue_coordination")


async def escalate_day(rt: Runtime, period: Period) -> None:
    ctx = Context(actor=ESCALATOR, correlation_id=f"escalation-{period.label}")
    result = await run_escalations(rt, period.start, ctx)
    if result.escalated or result.overdue:
        log.info(
            "escalation %s: %s of %s overdue issues escalated, %s at the top noticed overdue",
            period.label, len(result.escalated), result.checked, len(result.overdue),
        )  # fmt: skip


def issue_timers(settings: Settings) -> list[Timer]:
    return [
        Timer(ISSUE_ESCALATION, settings.schedule(ISSUE_ESCALATION), escalate_day),
        reminder_timer(settings),
        deadline_notice_timer(settings),
    ]
