"""Facts routing reads, as parts of notification's read model: other services' issues, supervision orders and
dispatch meetings (only what says who is concerned), and the routing rule versions. Each is an aggregate table
folded in bulk; the reaction waits until this projection has passed its event before it reads them."""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg

from services.notification.domain_rules import RoutingRuleSetState, evolve_rule_set
from services.notification.facts import (
    IssueFacts,
    MeetingFacts,
    OrderFacts,
    evolve_issue_facts,
    evolve_meeting_facts,
    evolve_order_facts,
)
from shared.aggregate_table import AggregateTable, envelope_fold
from shared.eventstore import StoredEvent

ISSUE_FACTS = AggregateTable("issue_facts", "issue", IssueFacts, envelope_fold(evolve_issue_facts))
ORDER_FACTS = AggregateTable("order_facts", "supervision_order", OrderFacts, envelope_fold(evolve_order_facts))
MEETING_FACTS = AggregateTable("meeting_facts", "dispatch_meeting", MeetingFacts, envelope_fold(evolve_meeting_facts))
RULE_SETS = AggregateTable("routing_rule_sets", "routing_rule_set", RoutingRuleSetState, envelope_fold(evolve_rule_set))
TABLES = (ISSUE_FACTS, ORDER_FACTS, MEETING_FACTS, RULE_SETS)


class FactsReadModel:
    tables = tuple(t.table for t in TABLES)

    async def create_tables(self, conn: asyncpg.Connection, schema: str) -> None:
        await conn.execute("".join(t.ddl(schema) for t in TABLES))

    async def apply(self, conn: asyncpg.Connection, schema: str, events: Sequence[StoredEvent]) -> None:
        for table in TABLES:
            await table.apply(conn, schema, events)
