"""Who a rule's recipients are for one source event, read from facts this service folded (the reaction has waited
until its projection passed the event): the project directory, issue/order/meeting facts, organisations by role,
subscriptions."""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg

from services.notification.read_model_facts import ISSUE_FACTS, MEETING_FACTS, ORDER_FACTS
from services.notification.render import Subject
from shared.catalogue.notification_rules import Recipient
from shared.envelope import Envelope
from shared.project_directory import project_entry

READS_EVERY_PROJECT = ("hq", "supervision", "auditor")


async def subject_of(conn: asyncpg.Connection, schema: str, env: Envelope, payload: dict[str, object]) -> Subject:
    aggregate_id = env.aggregate_id
    issue = order = meeting = None
    project_id = payload.get("project_id")
    if env.aggregate_type == "issue":
        issue = (await ISSUE_FACTS.load_row(conn, schema, aggregate_id))[0]
        project_id = issue.project_id if issue is not None else None
    elif env.aggregate_type == "supervision_order":
        order = (await ORDER_FACTS.load_row(conn, schema, aggregate_id))[0]
        project_id = order.project_id if order is not None else None
    elif env.aggregate_type == "dispatch_meeting":
        meeting = (await MEETING_FACTS.load_row(conn, schema, aggregate_id))[0]
    project = await project_entry(conn, schema, project_id) if isinstance(project_id, str) else None
    return Subject(aggregate_id, project, issue, order, meeting)


async def _orgs_with_role(conn: asyncpg.Connection, schema: str, role: str) -> list[str]:
    rows = await conn.fetch(f"SELECT id FROM {schema}.organisations WHERE role = $1 ORDER BY id", role)
    return [r["id"] for r in rows]


async def _subscribers(conn: asyncpg.Connection, schema: str, event_type: str, s: Subject) -> list[str]:
    """Organisations subscribed to `event_type` (for this project, or any project they may see)."""
    rows = await conn.fetch(
        f"""SELECT s.id, o.role FROM {schema}.subscriptions s LEFT JOIN {schema}.organisations o ON o.id = s.id
            WHERE EXISTS (SELECT 1 FROM jsonb_each(s.state->'subscriptions') AS e(k, v)
                          WHERE v->'event_types' ? $1 AND (v->>'project_id' IS NULL OR v->>'project_id' = $2))
            ORDER BY s.id""",
        event_type, s.project_id,
    )  # fmt: skip
    found = []
    for row in rows:
        sees = row["role"] in READS_EVERY_PROJECT or (s.project is not None and s.project.involves(row["id"]))
        if sees or s.project is None:
            found.append(row["id"])
    return found


async def resolve(
    conn: asyncpg.Connection, schema: str, recipients: Sequence[Recipient], env: Envelope, payload: dict[str, object],
    s: Subject,
) -> list[str]:  # fmt: skip
    """The organisations `recipients` name for this event, each once, in the rule's order."""
    found: list[str | None] = []
    for recipient in recipients:
        found.extend(await _one(conn, schema, recipient, env, payload, s))
    return list(dict.fromkeys(org for org in found if org))


async def _one(
    conn: asyncpg.Connection, schema: str, r: Recipient, env: Envelope, payload: dict[str, object], s: Subject
) -> list[str | None]:
    project, issue = s.project, s.issue
    if r == Recipient.PROJECT_UNIT:
        return [project.unit_id if project else None]
    if r == Recipient.SPONSOR:
        return [project.sponsor_leader_id if project else None]
    if r in (Recipient.HQ, Recipient.SUPERVISION):
        return list(await _orgs_with_role(conn, schema, r.value))
    if r == Recipient.LEAD_UNIT:
        return [issue.lead_unit_id if issue else None]
    if r == Recipient.CO_HANDLERS:
        return list(issue.co_handler_ids) if issue else []
    if r == Recipient.ESCALATION_TARGET:
        if payload.get("to_level", payload.get("level")) == "hq":  # escalated to hq, or overdue there
            return list(await _orgs_with_role(conn, schema, "hq"))
        target = payload.get("target_org_id")
        return [target if isinstance(target, str) else None]
    if r == Recipient.ORDER_TARGET:
        return [s.order.target_unit_id if s.order else None]
    if r == Recipient.DECISION_OWNER:
        owner = payload.get("owner_unit_id")
        return [owner if isinstance(owner, str) else None]
    if r == Recipient.MEETING_ORGS:
        return list(s.meeting.organisations()) if s.meeting else []
    return list(await _subscribers(conn, schema, env.type, s))
