"""SQL reads of dispatch meetings: the list (filtered by programme and date, narrowed to what the caller may see)
and what a leader's view of one meeting depends on.

Who sees a meeting is decided on the meeting's folded state (`meetings.state`, jsonb) with containment queries, so
the rule needs no column of its own: the same rule as `policies.can_read_meeting`, which the tests hold together.
"""

from __future__ import annotations

import json
from datetime import date
from typing import Any

import asyncpg

from services.scheduling.domain_meetings import MeetingState, projects_discussed
from shared.project_directory import project_entries

# $4: a unit that attends, convenes (its weekly meeting), or owns an agenda item or a decision.
UNIT_TAKES_PART = (
    "(m.state->>'unit_id' = $4 OR m.state->'attendees' @> jsonb_build_array(jsonb_build_object('org_id', $4::text))"
    " OR m.state->'agenda' @> jsonb_build_array(jsonb_build_object('unit_id', $4::text))"
    " OR m.state->'decisions' @> jsonb_build_array(jsonb_build_object('owner_unit_id', $4::text)))"
)
# $5: a leader that chairs or attends, or sponsors a project on the agenda or concerned by a decision.
LEADER_SEES = (
    "(m.state->>'chair_id' = $5 OR m.state->'attendees' @> jsonb_build_array(jsonb_build_object('org_id', $5::text))"
    " OR EXISTS (SELECT 1 FROM {s}.project_directory d WHERE d.sponsor_leader_id = $5"
    " AND (m.state->'agenda' @> jsonb_build_array(jsonb_build_object('project_id', d.id))"
    " OR m.state->'decisions' @> jsonb_build_array(jsonb_build_object('project_id', d.id)))))"
)
# The day a meeting is on is its day in China (UTC+8 all year, no daylight saving): compared as dates, so that any
# calendar day a client sends, 0001-01-01 or 9999-12-31, is a bound and never an instant out of range.
CHINA_DAY = "(m.scheduled_for AT TIME ZONE INTERVAL '+08:00')::date"
MEETINGS_WHERE = (
    "FROM {s}.meetings m WHERE ($1::text IS NULL OR m.programme_id = $1)"
    f" AND ($2::date IS NULL OR {CHINA_DAY} >= $2) AND ($3::date IS NULL OR {CHINA_DAY} <= $3)"
    f" AND ($4::text IS NULL OR {UNIT_TAKES_PART}) AND ($5::text IS NULL OR {LEADER_SEES})"
)


def meeting_summary(state: MeetingState, version: int) -> dict[str, Any]:
    """A meeting in a list: everything but its agenda and minutes, which `GET /v1/meetings/{id}` answers."""
    body = state.model_dump(mode="json", exclude={"agenda", "minutes"})
    return {**body, "agenda_count": len(state.agenda), "version": version}


async def list_meetings(
    conn: asyncpg.Connection,
    schema: str,
    *,
    programme_id: str | None,
    date_from: date | None,
    date_to: date | None,
    unit_id: str | None,
    leader_id: str | None,
    limit: int,
    offset: int,
) -> tuple[list[dict[str, Any]], int]:
    """Meetings from `date_from` to `date_to` (both included), latest first, and how many match in all."""
    source = MEETINGS_WHERE.format(s=schema)
    args = (programme_id, date_from, date_to, unit_id, leader_id)
    rows = await conn.fetch(
        f"SELECT m.state, m.version {source} ORDER BY m.scheduled_for DESC, m.id LIMIT $6 OFFSET $7",
        *args, limit, offset,
    )  # fmt: skip
    total = await conn.fetchval(f"SELECT count(*) {source}", *args)
    items = [meeting_summary(MeetingState.model_validate(json.loads(r["state"])), r["version"]) for r in rows]
    return items, int(total)


async def sponsored_projects(conn: asyncpg.Connection, schema: str, meeting: MeetingState, leader_id: str) -> set[str]:
    """The meeting's projects that `leader_id` sponsors."""
    entries = await project_entries(conn, schema, sorted(projects_discussed(meeting)))
    return {pid for pid, entry in entries.items() if entry.sponsor_leader_id == leader_id}
