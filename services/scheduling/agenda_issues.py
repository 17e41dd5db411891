"""The agenda's issue items: open issues escalated beyond their lead unit (逐级上报) and open supervision orders (督办)
on a project or one of its issues, as scheduling's read model knows them from issue_coordination's events
(read_model_issues.py, read_model_supervision.py), of one programme (and one unit's or leader's projects)."""

from __future__ import annotations

import asyncpg

from services.scheduling.domain_issues import LEVEL_LABELS, LEVEL_RANK, OPEN, KnownIssue
from services.scheduling.domain_supervision import CLOSED, STATUS_LABELS, KnownOrder, moment
from shared.catalogue.scheduling import AgendaItem
from shared.clock import CHINA


async def _on_programme(
    conn: asyncpg.Connection, schema: str, table: str, condition: str, condition_arg: object, programme_id: str,
    unit_id: str | None, sponsor_id: str | None,
) -> list[tuple[str, str]]:  # fmt: skip
    """(state, project name) of the rows of `table` (issues or orders, as `a`) that meet `condition` (its argument
    `$4`), on the programme's projects (one unit's or one leader's when given); a row without a project is on none."""
    rows = await conn.fetch(
        f"SELECT a.state, j.name AS project_name FROM {schema}.{table} a"
        f" JOIN {schema}.project_directory j ON j.id = a.project_id"
        " WHERE j.programme_id = $1 AND ($2::text IS NULL OR j.unit_id = $2)"
        f" AND ($3::text IS NULL OR j.sponsor_leader_id = $3) AND {condition}",
        programme_id, unit_id, sponsor_id, condition_arg,
    )  # fmt: skip
    return [(str(r["state"]), str(r["project_name"])) for r in rows]


async def escalated_issue_items(
    conn: asyncpg.Connection, schema: str, *, programme_id: str, unit_id: str | None, sponsor_id: str | None
) -> list[AgendaItem]:
    """Highest level first, then by issue id; a tracked decision without a project is not on a programme's agenda."""
    escalated = "a.status = ANY($4::text[]) AND a.level IS NOT NULL AND a.level <> 'lead_unit'"
    rows = await _on_programme(conn, schema, "project_issues", escalated, sorted(OPEN), programme_id, unit_id,
                               sponsor_id)  # fmt: skip
    found = [(KnownIssue.model_validate_json(state), project_name) for state, project_name in rows]
    found.sort(key=lambda pair: (-LEVEL_RANK[pair[0].level] if pair[0].level else 0, pair[0].id))
    return [_item(issue, project_name) for issue, project_name in found]


def _item(issue: KnownIssue, project_name: str) -> AgendaItem:
    assert issue.level is not None
    reasons = [f"问题编号 {issue.id},已上报至{LEVEL_LABELS[issue.level]},尚未解决"]
    if issue.deadline is not None:
        reasons.append(f"当前办理期限 {issue.deadline.astimezone(CHINA).strftime('%Y-%m-%d %H:%M')}")
    return AgendaItem(kind="escalated_issue", project_id=issue.project_id, unit_id=issue.lead_unit_id,
                      title=f"已上报问题:{project_name}「{issue.summary}」", reasons=reasons)  # fmt: skip


async def supervision_order_items(
    conn: asyncpg.Connection, schema: str, *, programme_id: str, unit_id: str | None, sponsor_id: str | None
) -> list[AgendaItem]:
    """Open 督办 orders, the earliest deadline first; an order without a project is not on a programme's agenda."""
    rows = await _on_programme(conn, schema, "project_supervision_orders", "a.status <> $4", CLOSED, programme_id,
                               unit_id, sponsor_id)  # fmt: skip
    found = [(KnownOrder.model_validate_json(state), project_name) for state, project_name in rows]
    found.sort(key=lambda pair: (pair[0].deadline, pair[0].id))
    return [
        AgendaItem(kind="supervision_order", project_id=order.project_id, unit_id=order.target_unit_id,
                   title=f"督办事项:{project_name}「{order.subject}」",
                   reasons=[f"督办单编号 {order.id},{STATUS_LABELS.get(order.status, order.status)},尚未办结",
                            f"办结期限 {moment(order.deadline)}"])
        for order, project_name in found
    ]  # fmt: skip
