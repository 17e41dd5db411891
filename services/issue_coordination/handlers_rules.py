"""Use cases of the rule data and the ladder: publish calendar and rule versions (hq), seed them, compute an
assignment's deadline from them, escalate by hand (hq). Decisions are in domain_rules.py and escalation.py."""

from __future__ import annotations

import uuid
from datetime import datetime

from services.issue_coordination.calendar_data import SEEDED_VERSIONS
from services.issue_coordination.commands_rules import Escalate, PublishCalendar, PublishIssueRules
from services.issue_coordination.deadlines import hand_set, rules_deadline
from services.issue_coordination.domain import IssueState, must_exist
from services.issue_coordination.domain_rules import (
    CALENDAR_ID,
    RULE_SET_ID,
    decide_default_rules,
    decide_publish_calendar,
    decide_publish_issue_rules,
    decide_seed_calendar,
)
from services.issue_coordination.escalation import manual_escalation
from services.issue_coordination.escalation_runs import escalated, escalation_event_id, issue_clock
from services.issue_coordination.policies import can_read, must_be_hq
from services.issue_coordination.read_model import ISSUES
from services.issue_coordination.read_model_rules import CALENDARS, RULE_SETS, rule_data
from shared.catalogue.issue_coordination import Deadline, DeadlineSource, IssueEscalated
from shared.commands import CommandMeta, Outcome, execute, handle, load
from shared.domain_errors import Conflict
from shared.eventstore import Context
from shared.project_directory import project_entry
from shared.runtime import Runtime

SEED_NAMESPACE = uuid.UUID("6e2a0f4b-93c1-4d7e-8a25-b0f1c3d9e716")


async def publish_calendar(rt: Runtime, cmd: PublishCalendar, meta: CommandMeta) -> Outcome:
    must_be_hq(meta.principal, "发布工作日历")
    return await handle(rt, CALENDARS, CALENDAR_ID, lambda s: decide_publish_calendar(s, cmd), meta, scope="calendar")


async def publish_issue_rules(rt: Runtime, cmd: PublishIssueRules, meta: CommandMeta) -> Outcome:
    must_be_hq(meta.principal, "发布期限规则")
    return await handle(
        rt, RULE_SETS, RULE_SET_ID, lambda s: decide_publish_issue_rules(s, cmd), meta, scope="issue-rules"
    )


async def ensure_rule_data(rt: Runtime, ctx: Context) -> None:
    """The seeded calendar versions and rule version 1, once: every replica may try, one appends each (its id is
    fixed), the others find it there."""
    for index in range(len(SEEDED_VERSIONS)):
        await execute(
            pool=rt.pool, store=rt.store, schema=rt.schema, spec=CALENDARS, aggregate_id=CALENDAR_ID,
            decide=lambda s, i=index: decide_seed_calendar(s, i), context=ctx,  # type: ignore[misc]
            event_id=uuid.uuid5(SEED_NAMESPACE, f"calendar|{index}"),
        )  # fmt: skip
    await execute(
        pool=rt.pool, store=rt.store, schema=rt.schema, spec=RULE_SETS, aggregate_id=RULE_SET_ID,
        decide=decide_default_rules, context=ctx, event_id=uuid.uuid5(SEED_NAMESPACE, "issue-rules|1"),
    )  # fmt: skip


async def rules_deadline_for(rt: Runtime, issue: IssueState, since: datetime, field: str = "deadline") -> Deadline:
    """The deadline of an assignment at `since` from the rules and calendar in force that day (both recorded)."""
    data = await rule_data(rt.pool, rt.store, rt.schema)
    computed = rules_deadline(
        category=issue.category.value, priority=issue.priority.value, since=since, rule_versions=data.rule_versions,
        calendars=data.calendars, field=field,
    )  # fmt: skip
    return Deadline(
        deadline=computed.deadline, deadline_source=DeadlineSource.RULES, rule_version=computed.rule_version,
        calendar_version=computed.calendar_version, deadline_since=since,
    )  # fmt: skip


async def hand_set_deadline(rt: Runtime, deadline: datetime, since: datetime) -> Deadline:
    """A deadline hq sets by hand at `since`, recording the calendar version in force (deadlines.hand_set)."""
    return hand_set((await rule_data(rt.pool, rt.store, rt.schema)).calendars, deadline, since)


async def escalate(rt: Runtime, cmd: Escalate, meta: CommandMeta) -> Outcome:
    """hq escalates by hand to the next rung. The rung is fixed by the first decision (or by `to_level`): a step
    recorded meanwhile (by the timer, say) makes it stale, 409 rather than a second climb. A keyed retry answers as
    the first did; without a key the step's own id (issue + level) keeps it from being appended twice."""
    must_be_hq(meta.principal, "手动升级问题")
    data = await rule_data(rt.pool, rt.store, rt.schema)
    now = rt.clock.now()
    target: list[str] = [cmd.to_level] if cmd.to_level else []
    sponsor: list[str | None] = []

    async def authorize(state: IssueState | None) -> None:
        issue = must_exist(state)
        async with rt.pool.acquire() as conn:
            project = None if issue.project_id is None else await project_entry(conn, rt.schema, issue.project_id)
        can_read(meta.principal, issue, project)
        sponsor[:] = [project.sponsor_leader_id if project is not None else None]

    def decide(state: IssueState | None) -> IssueEscalated:
        current = must_exist(state)
        step = manual_escalation(issue_clock(current, sponsor[0]), now, cmd.reason, data.rule_versions,
                                 data.calendars)  # fmt: skip
        target[:] = target or [step.to_level]
        if step.to_level != target[0]:
            raise _stale(current, step.to_level)
        return escalated(step, manual=True)

    event_id = meta.event_id(f"escalate:{cmd.issue_id}")
    if event_id is None:  # the rung is known before the append: its own id
        loaded = await load(rt.pool, rt.store, rt.schema, ISSUES, cmd.issue_id)
        await authorize(loaded.state)
        event_id = escalation_event_id(cmd.issue_id, decide(loaded.state).to_level)
    # No aggregate cache: a stale cached level would refuse the step as stale (409) for nothing.
    return await execute(
        pool=rt.pool, store=rt.store, schema=rt.schema, spec=ISSUES, aggregate_id=cmd.issue_id, decide=decide,
        context=meta.context, if_match=meta.if_match, event_id=event_id, authorize=authorize,
    )  # fmt: skip


def _stale(issue: IssueState, next_level: str) -> Conflict:
    level = issue.level.value if issue.level else "lead_unit"
    return Conflict(
        f"问题当前层级为 {level},下一层级为 {next_level}", field="to_level", reason=f"下一层级为 {next_level}",
        current_status=issue.status.value, current_level=level,
    )  # fmt: skip
