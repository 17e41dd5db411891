"""The rule data's part of issue_coordination's read model: calendar versions and rule versions, one row each.

Commands and the escalation run read both to compute deadlines (`rule_data`), loading them like any aggregate.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import asyncpg

from services.issue_coordination.deadlines import RuleVersion
from services.issue_coordination.domain_rules import (
    CALENDAR_ID,
    RULE_SET_ID,
    CalendarState,
    IssueRuleSetState,
    evolve_calendar,
    evolve_rule_set,
)
from services.issue_coordination.work_calendar import WorkCalendar
from shared.aggregate_table import AggregateTable, envelope_fold
from shared.commands import load
from shared.eventstore import EventStore, StoredEvent

CALENDARS = AggregateTable("work_calendars", "work_calendar", CalendarState, envelope_fold(evolve_calendar))
RULE_SETS = AggregateTable("issue_rule_sets", "issue_rule_set", IssueRuleSetState, envelope_fold(evolve_rule_set))


class RuleDataReadModel:
    tables = (CALENDARS.table, RULE_SETS.table)

    async def create_tables(self, conn: asyncpg.Connection, schema: str) -> None:
        await conn.execute(CALENDARS.ddl(schema) + RULE_SETS.ddl(schema))

    async def apply(self, conn: asyncpg.Connection, schema: str, events: Sequence[StoredEvent]) -> None:
        await CALENDARS.apply(conn, schema, events)
        await RULE_SETS.apply(conn, schema, events)


@dataclass(frozen=True)
class RuleData:
    """Every published version of both, as the deadline arithmetic takes them."""

    rule_versions: list[RuleVersion]
    calendars: list[WorkCalendar]
    calendar_state: CalendarState
    rule_state: IssueRuleSetState


async def rule_data(pool: asyncpg.Pool, store: EventStore, schema: str) -> RuleData:
    """Both aggregates as the log has them now (the row plus any version not yet projected), so that a deadline
    decided right after a version is published uses it."""
    calendars = (await load(pool, store, schema, CALENDARS, CALENDAR_ID)).state or CalendarState()
    rules = (await load(pool, store, schema, RULE_SETS, RULE_SET_ID)).state or IssueRuleSetState()
    return RuleData(rules.rule_versions(), calendars.calendars(), calendars, rules)
