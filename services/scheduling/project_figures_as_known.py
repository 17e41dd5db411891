"""A project's planned figures and dates as they were known at a moment: 应开工, 年度计划投资 and the 序时 plan of a
project without a plan, and its 区县, in a report dated D (docs/adr/0017).

scheduling's copy of intake's project facts (`read_model.ProjectFigures`) holds them now. intake amends them
(ProjectDetailsAmended: hq's own amendment, or an approved change request 调整计划日期 / 调整计划投资), so the copy
also keeps, for each amendment that changed any of them, what they were before it and when it was recorded
(`planned_before`). The figures at a moment are the ones the first amendment recorded after it changed from;
without one, the figures now. A copy folded before this was kept has no entries for its earlier amendments: those
are taken as known (a rebuild of the read model fills them in), while the entries kept since are exact.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import asyncpg
from pydantic import BaseModel, TypeAdapter

PLANNED_FIELDS = ("planned_start", "planned_completion", "total_investment", "annual_planned_investment", "location")


class PlannedBefore(BaseModel):
    """The planned figures and dates of a project before an amendment recorded at `recorded_at`."""

    recorded_at: datetime
    planned_start: date
    planned_completion: date
    total_investment: Decimal
    annual_planned_investment: Decimal
    location: str


HISTORY = TypeAdapter(list[PlannedBefore])


def planned_history(
    now: Mapping[str, Any], history: list[PlannedBefore], amended: Mapping[str, Any], recorded_at: datetime
) -> list[PlannedBefore]:
    """`history` with the figures `now` appended when the amendment (`amended`: the fields it sets) changes any."""
    if all(amended.get(name, now[name]) == now[name] for name in PLANNED_FIELDS):
        return history
    return [*history, PlannedBefore(recorded_at=recorded_at, **{name: now[name] for name in PLANNED_FIELDS})]


def planned_as_known(now: Mapping[str, Any], history: list[PlannedBefore], known_at: datetime) -> dict[str, Any]:
    """The planned fields at `known_at`: those before the first amendment recorded later, else those `now`."""
    later = next((entry for entry in history if entry.recorded_at > known_at), None)
    if later is None:
        return {name: now[name] for name in PLANNED_FIELDS}
    return {name: getattr(later, name) for name in PLANNED_FIELDS}


def projects_as_known(rows: Sequence[Mapping[str, Any]], known_at: datetime) -> list[dict[str, Any]]:
    """Project rows that carry the planned fields now and `planned_before` (the copy's JSON, or NULL), with the
    planned fields as known at `known_at`."""
    out = []
    for row in rows:
        out.append({**row, **planned_as_known(row, _history(row["planned_before"]), known_at)})
    return out


async def planned_of(
    conn: asyncpg.Connection, schema: str, project_ids: list[str], known_at: datetime
) -> dict[str, dict[str, Any]]:
    """Project id -> its planned fields as known at `known_at`."""
    rows = await conn.fetch(
        f"SELECT id, {', '.join(PLANNED_FIELDS)}, state->'planned_before' AS planned_before"
        f" FROM {schema}.project_figures WHERE id = ANY($1)",
        project_ids,
    )
    return {r["id"]: planned_as_known(r, _history(r["planned_before"]), known_at) for r in rows}


def _history(planned_before: str | None) -> list[PlannedBefore]:
    return HISTORY.validate_json(planned_before) if planned_before else []
