"""Escalation over the log (逐级上报): each due step decided on the issue's state as the log has it, appended once.

The timer (timers.py) and hq's run for a day (`POST /v1/escalation-runs`) both call `run_escalations`. A step's
event id is derived from the issue and the level it climbs to, and it is appended under the issue's expected
sequence after deciding on the issue's row plus the tail of its subject: a second replica, a re-run after a crash
(whoever held the timer's lease died mid-run) or a run for the same day again finds the step recorded (the same id
within the stream's dedupe window, the issue's level beyond it) and appends nothing.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime

from services.issue_coordination.deadline_notices import notice_event_id, running_since
from services.issue_coordination.domain import OPEN, IssueState
from services.issue_coordination.domain_common import OVERDUE, notice_key
from services.issue_coordination.escalation import Escalation, IssueClock, due_escalation, due_overdue
from services.issue_coordination.read_model import ISSUES
from services.issue_coordination.read_model_rules import RuleData, rule_data
from services.issue_coordination.work_calendar import Pause
from shared.catalogue.issue_coordination import DeadlineSource, IssueDeadlinePassed, IssueEscalated, IssueLevel
from shared.commands import execute, load
from shared.eventstore import Context
from shared.project_directory import project_entry
from shared.runtime import Runtime

ESCALATION_NAMESPACE = uuid.UUID("0c9d6b1e-2f47-4a8e-b3d5-71e6a2c4f980")


def escalation_event_id(issue_id: str, to_level: str) -> uuid.UUID:
    """The one id of the step that takes `issue_id` to `to_level` (a level is reached at most once)."""
    return uuid.uuid5(ESCALATION_NAMESPACE, f"{issue_id}|{to_level}")


def issue_clock(issue: IssueState, sponsor_org_id: str | None) -> IssueClock:
    """What the ladder needs of an issue: the questions to the raiser are its pauses (补充情况期间暂停计时)."""
    return IssueClock(
        issue_id=issue.id,
        status=issue.status.value,
        level=(issue.level or IssueLevel.LEAD_UNIT).value,
        deadline=issue.deadline,
        deadline_since=running_since(issue),
        calendar_version=issue.calendar_version,
        pauses=tuple(Pause(w.requested_at, w.answered_at) for w in issue.information_requests),
        sponsor_org_id=sponsor_org_id,
    )


def escalated(step: Escalation, *, manual: bool) -> IssueEscalated:
    return IssueEscalated(
        deadline=step.deadline,
        deadline_source=DeadlineSource.RULES,
        rule_version=step.rule_version,
        calendar_version=step.calendar_version,
        deadline_since=step.since,
        from_level=IssueLevel(step.from_level),
        to_level=IssueLevel(step.to_level),
        target_org_id=step.target_org_id,
        missed_deadline=step.missed_deadline,
        reason=step.reason,
        manual=manual,
    )


async def sponsor_of(rt: Runtime, issue: IssueState) -> str | None:
    """The project's sponsoring leader (包保市领导), from the shared project directory."""
    if issue.project_id is None:
        return None
    async with rt.pool.acquire() as conn:
        entry = await project_entry(conn, rt.schema, issue.project_id)
    return entry.sponsor_leader_id if entry is not None else None


async def escalate_if_due(rt: Runtime, issue_id: str, at: datetime, data: RuleData, ctx: Context) -> Escalation | None:
    """The step due for one issue at `at`, appended once; None when nothing is due (or it is recorded already)."""
    loaded = await load(rt.pool, rt.store, rt.schema, ISSUES, issue_id)
    if loaded.state is None:
        return None
    sponsor = await sponsor_of(rt, loaded.state)
    planned = due_escalation(issue_clock(loaded.state, sponsor), at, data.rule_versions, data.calendars)
    if planned is None:
        return None

    def decide(state: IssueState | None) -> IssueEscalated | None:
        # Decided again on the state the append is guarded by: a step recorded meanwhile (another replica, hq by
        # hand) leaves this one nothing to do; the next step, if any, is the next run's.
        step = None if state is None else due_escalation(issue_clock(state, sponsor), at, data.rule_versions,
                                                         data.calendars)  # fmt: skip
        return escalated(step, manual=False) if step is not None and step.to_level == planned.to_level else None

    # Not through the replica's aggregate cache: a stale cached state would decide "nothing due" without ever
    # meeting the expected-sequence check that catches a stale state on an append.
    outcome = await execute(
        pool=rt.pool, store=rt.store, schema=rt.schema, spec=ISSUES, aggregate_id=issue_id, decide=decide,
        context=ctx, event_id=escalation_event_id(issue_id, planned.to_level),
    )  # fmt: skip
    return planned if outcome.appended and not outcome.replayed else None


def overdue_notice(
    state: IssueState | None, sponsor: str | None, at: datetime, data: RuleData
) -> IssueDeadlinePassed | None:
    """The overdue notice due for an issue at the top of its ladder at `at`, unless it was given for that deadline."""
    if state is None:
        return None
    found = due_overdue(issue_clock(state, sponsor), at, data.rule_versions, data.calendars)
    if found is None:
        return None
    if notice_key(found.deadline, OVERDUE) in state.deadline_notices:
        return None
    return IssueDeadlinePassed(deadline=found.deadline, calendar_version=found.calendar_version,
                               level=IssueLevel(found.level), target_org_id=found.target_org_id)  # fmt: skip


async def notice_overdue_if_due(rt: Runtime, issue_id: str, at: datetime, data: RuleData, ctx: Context) -> bool:
    """The overdue notice of one issue that cannot climb further, appended once per deadline (event id from the issue
    and the deadline, decided again under the expected sequence); True when this run appended it."""
    loaded = await load(rt.pool, rt.store, rt.schema, ISSUES, issue_id)
    if loaded.state is None:
        return False
    sponsor = await sponsor_of(rt, loaded.state)
    if (planned := overdue_notice(loaded.state, sponsor, at, data)) is None:
        return False
    outcome = await execute(
        pool=rt.pool, store=rt.store, schema=rt.schema, spec=ISSUES, aggregate_id=issue_id,
        decide=lambda state: notice if (notice := overdue_notice(state, sponsor, at, data)) == planned else None,
        context=ctx, event_id=notice_event_id(issue_id, planned.deadline, OVERDUE),
    )  # fmt: skip
    return outcome.appended and not outcome.replayed


@dataclass
class RunResult:
    as_of: datetime
    checked: int = 0
    escalated: list[tuple[str, str]] = field(default_factory=list)  # (issue id, level reached)
    overdue: list[str] = field(default_factory=list)  # issues at the top of their ladder, noticed overdue


async def run_escalations(rt: Runtime, at: datetime, ctx: Context) -> RunResult:
    """Every open issue whose deadline had passed by `at` climbs one step if it is still due (pauses counted); one
    with no rung left gets its overdue notice instead (once per deadline)."""
    data = await rule_data(rt.pool, rt.store, rt.schema)
    async with rt.pool.acquire() as conn:
        # A pause only ever moves a deadline later, so the recorded one selects every candidate.
        ids = await conn.fetch(
            f"SELECT id FROM {rt.schema}.issues WHERE status = ANY($1::text[]) AND deadline < $2 ORDER BY deadline, id",
            sorted(OPEN), at,
        )  # fmt: skip
    result = RunResult(as_of=at, checked=len(ids))
    for row in ids:
        step = await escalate_if_due(rt, row["id"], at, data, ctx)
        if step is not None:
            result.escalated.append((row["id"], step.to_level))
        elif await notice_overdue_if_due(rt, row["id"], at, data, ctx):
            result.overdue.append(row["id"])
    return result
