"""The year-end evaluation's part of scheduling's read model: its rule versions, its recorded runs, and a ledger of
every event an evaluation may rest on (`year_end_facts`: intake's project and report events, scheduling's plan
events, lights and lights rule versions, issue_coordination's issue and 督办 order events), each with its event id,
so that every part can name its events.

A deployment whose read model was folded before this part existed fills the ledger by a rebuild (docs/adr/0012).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime

import asyncpg

from services.scheduling.domain import plan_id_for
from services.scheduling.year_end import EvaluationState, evolve_evaluation
from services.scheduling.year_end_parts import Fact
from services.scheduling.year_end_rules import EvaluationRuleSetState, evolve_evaluation_rule_set
from shared.aggregate_table import AggregateTable, Row, RowTable, envelope_fold
from shared.catalogue import CATALOGUE
from shared.ddl import lock_free_when_done
from shared.eventstore import StoredEvent

FACT_TYPES = (
    # intake: the project (unit, planned investment and start) and its progress reports
    "ProjectRegistered", "ProjectDetailsAmended", "ProgressReported", "ProgressReportAccepted",
    # scheduling: the year plan's milestones, their completion and exemptions
    "PlanDrafted", "PlanRevised", "PlanBaselineApproved", "MilestoneRebaselined", "MilestoneCompleted",
    "ExemptionRequested", "ExemptionApproved",
    # issue_coordination: an issue's beginning, deadlines, resolution
    "IssueRaised", "MeetingDecisionTracked", "IssueAssigned", "IssueReassigned", "ExtensionDecided", "IssueEscalated",
    "IssueResolved", "ResolutionRejected", "IssueWithdrawn",
    # what a rule version may add (docs/adr/0037): 督办 orders, lights (weeks red); and the lights rule versions
    # whose weekly deadline judges each week's report
    "SupervisionOrderIssued", "SupervisionOrderClosed", "StatusLightChanged", "RuleVersionPublished",
)  # fmt: skip
ISSUE_BEGINNINGS = ("IssueRaised", "MeetingDecisionTracked")
ORDER_BEGINNING = "SupervisionOrderIssued"
REPORTING_RULES = "RuleVersionPublished"


def _fact_row(event: StoredEvent) -> Row:
    env = event.envelope
    return (event.seq, str(env.id), env.type, env.aggregate_id, env.recorded_at,
            CATALOGUE.payload_of(event).model_dump_json())  # fmt: skip


FACTS = RowTable(
    "year_end_facts",
    {"seq": "bigint", "event_id": "text", "type": "text", "aggregate_id": "text", "recorded_at": "timestamptz",
     "payload": "jsonb"},
    dict.fromkeys(FACT_TYPES, _fact_row),
)  # fmt: skip
EVALUATION_RULE_SET = AggregateTable(
    "evaluation_rule_set", "evaluation_rule_set", EvaluationRuleSetState, envelope_fold(evolve_evaluation_rule_set)
)
EVALUATIONS = AggregateTable(
    "year_end_evaluations", "year_end_evaluation", EvaluationState, envelope_fold(evolve_evaluation)
)

INDEXES = """
CREATE INDEX IF NOT EXISTS year_end_facts_aggregate ON {s}.year_end_facts (aggregate_id, seq);
CREATE INDEX IF NOT EXISTS year_end_facts_programme ON {s}.year_end_facts ((payload->>'programme_id'))
    WHERE type = 'ProjectRegistered';
CREATE INDEX IF NOT EXISTS year_end_facts_issue_project ON {s}.year_end_facts ((payload->>'project_id'))
    WHERE type IN ('IssueRaised', 'MeetingDecisionTracked');
CREATE INDEX IF NOT EXISTS year_end_facts_order_project ON {s}.year_end_facts ((payload->>'project_id'))
    WHERE type = 'SupervisionOrderIssued';
CREATE INDEX IF NOT EXISTS year_end_facts_order_issue ON {s}.year_end_facts ((payload->>'issue_id'))
    WHERE type = 'SupervisionOrderIssued';
CREATE INDEX IF NOT EXISTS year_end_facts_type ON {s}.year_end_facts (type) WHERE type = 'RuleVersionPublished';
"""


class YearEndReadModel:
    tables = (FACTS.table, EVALUATION_RULE_SET.table, EVALUATIONS.table)

    async def create_tables(self, conn: asyncpg.Connection, schema: str) -> None:
        ddl = FACTS.ddl(schema) + EVALUATION_RULE_SET.ddl(schema) + EVALUATIONS.ddl(schema)
        await conn.execute(lock_free_when_done(ddl + INDEXES.format(s=schema)))

    async def apply(self, conn: asyncpg.Connection, schema: str, events: Sequence[StoredEvent]) -> None:
        await FACTS.apply(conn, schema, events)
        await EVALUATION_RULE_SET.apply(conn, schema, events)
        await EVALUATIONS.apply(conn, schema, events)


class ProgrammeFacts:
    """A programme's facts for a year, recorded by a moment: per project its own (lights among them: a light's
    aggregate is its project's id), its year plan's, its issues', its 督办 orders'; and the lights rule versions."""

    def __init__(self, facts: list[Fact], year: int) -> None:
        self.units: dict[str, list[str]] = {}
        self.project: dict[str, list[Fact]] = {}
        for fact in facts:
            if fact.type == "ProjectRegistered":
                unit_id: str = fact.payload.unit_id  # type: ignore[attr-defined]
                self.units.setdefault(unit_id, []).append(fact.aggregate_id)
                self.project[fact.aggregate_id] = []
        plans = {plan_id_for(project_id, year): project_id for project_id in self.project}
        issue_project = {f.aggregate_id: f.payload.project_id for f in facts  # type: ignore[attr-defined]
                         if f.type in ISSUE_BEGINNINGS}  # fmt: skip
        order_project = {f.aggregate_id: _order_project(f, self.project, issue_project) for f in facts
                         if f.type == ORDER_BEGINNING}  # fmt: skip
        self.plan: dict[str, list[Fact]] = {project_id: [] for project_id in self.project}
        self.issues: dict[str, dict[str, list[Fact]]] = {project_id: {} for project_id in self.project}
        self.orders: dict[str, dict[str, list[Fact]]] = {project_id: {} for project_id in self.project}
        self.reporting_rules: list[Fact] = []
        for fact in facts:
            if fact.type == REPORTING_RULES:
                self.reporting_rules.append(fact)
            elif fact.aggregate_id in self.project:
                self.project[fact.aggregate_id].append(fact)
            elif fact.aggregate_id in plans:
                self.plan[plans[fact.aggregate_id]].append(fact)
            elif issue_project.get(fact.aggregate_id) in self.issues:
                self.issues[issue_project[fact.aggregate_id]].setdefault(fact.aggregate_id, []).append(fact)
            elif (about := order_project.get(fact.aggregate_id)) is not None and about in self.orders:
                self.orders[about].setdefault(fact.aggregate_id, []).append(fact)


def _order_project(issued: Fact, projects: dict[str, list[Fact]], issue_project: dict[str, str]) -> str | None:
    """The project a 督办 order is about: the one it names, or the project of the issue it names."""
    project_id: str | None = issued.payload.project_id  # type: ignore[attr-defined]
    if project_id in projects:
        return project_id
    return issue_project.get(issued.payload.issue_id or "")  # type: ignore[attr-defined]


async def programme_facts(
    conn: asyncpg.Connection, schema: str, programme_id: str, year: int, known_at: datetime
) -> ProgrammeFacts:
    """One query: the programme's projects registered by `known_at`, and every fact recorded by then about them,
    their plans of `year` (`<project>-y<year>`: domain.plan_id_for, checked in ProgrammeFacts), their issues and
    their 督办 orders, in log order; and every lights rule version (ReportingRules picks those published in time)."""
    rows = await conn.fetch(
        f"""WITH projects AS (
                SELECT aggregate_id AS id FROM {schema}.year_end_facts
                WHERE type = 'ProjectRegistered' AND payload->>'programme_id' = $1 AND recorded_at <= $3),
            issues AS (
                SELECT aggregate_id AS id FROM {schema}.year_end_facts
                WHERE type IN ('IssueRaised', 'MeetingDecisionTracked')
                  AND payload->>'project_id' IN (SELECT id FROM projects)),
            orders AS (
                SELECT aggregate_id AS id FROM {schema}.year_end_facts
                WHERE type = 'SupervisionOrderIssued' AND (payload->>'project_id' IN (SELECT id FROM projects)
                    OR payload->>'issue_id' IN (SELECT id FROM issues)))
            SELECT seq, event_id, type, aggregate_id, recorded_at, payload FROM {schema}.year_end_facts
            WHERE type = 'RuleVersionPublished' OR recorded_at <= $3 AND (aggregate_id IN (SELECT id FROM projects)
                OR aggregate_id IN (SELECT id || '-y' || $2::int FROM projects)
                OR aggregate_id IN (SELECT id FROM issues) OR aggregate_id IN (SELECT id FROM orders))
            ORDER BY seq""",
        programme_id, year, known_at,
    )  # fmt: skip
    facts = [
        Fact(r["seq"], r["event_id"], r["type"], r["aggregate_id"], r["recorded_at"],
             CATALOGUE.entry(r["type"]).model.model_validate(json.loads(r["payload"])))
        for r in rows
    ]  # fmt: skip
    return ProgrammeFacts(facts, year)


async def evaluation_rule_set(conn: asyncpg.Connection, schema: str) -> EvaluationRuleSetState:
    state, _ = await EVALUATION_RULE_SET.load_row(conn, schema, "default")
    return state or EvaluationRuleSetState()


async def recorded_evaluation(conn: asyncpg.Connection, schema: str, evaluation_id: str) -> EvaluationState | None:
    state, _ = await EVALUATIONS.load_row(conn, schema, evaluation_id)
    return state


async def recorded_evaluations(conn: asyncpg.Connection, schema: str) -> list[EvaluationState]:
    rows = await conn.fetch(f"SELECT state FROM {schema}.year_end_evaluations ORDER BY id")
    return [EvaluationState.model_validate_json(r["state"]) for r in rows]
