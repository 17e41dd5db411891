"""SQL reads of lights and the daily monitoring: a project's current light and its history, the lights of a
programme (filtered, paged, counted) and the items of a monitoring day, as the API shows them."""

from __future__ import annotations

import json
from datetime import date, datetime
from typing import Any

import asyncpg

from services.scheduling.domain_monitoring import LightState
from services.scheduling.read_model import LIGHTS
from shared.catalogue.scheduling import StatusLightChanged

COLOUR_NAMES = {"red": "红灯", "yellow": "黄灯", "green": "绿灯"}


async def monitoring_items(
    conn: asyncpg.Connection,
    schema: str,
    day: date,
    unit_id: str | None,
    sponsor_id: str | None = None,
    up_to_seq: int | None = None,
) -> list[dict[str, Any]]:
    """The day's items in the order they were emitted (those stored up to `up_to_seq`: the day as of a moment); a
    unit sees those of its own projects, a leader those of the projects it sponsors."""
    rows = await conn.fetch(
        f"SELECT i.kind, i.payload FROM {schema}.monitoring_items i"
        f" LEFT JOIN {schema}.project_directory d ON d.id = i.project_id"
        " WHERE i.day = $1 AND ($2::text IS NULL OR d.unit_id = $2) AND ($3::text IS NULL OR d.sponsor_leader_id = $3)"
        " AND ($4::bigint IS NULL OR i.seq <= $4) ORDER BY i.seq",
        day, unit_id, sponsor_id, up_to_seq,
    )  # fmt: skip
    return [{"kind": r["kind"], **json.loads(r["payload"])} for r in rows]


def light_public(light: StatusLightChanged | None) -> dict[str, Any] | None:
    if light is None:
        return None
    body = light.model_dump(mode="json")
    body["colour_name"] = COLOUR_NAMES[light.colour.value]
    body["reasons"] = [
        reason
        for dim in (light.milestones, light.investment, light.reporting, light.issues)
        if dim is not None and dim.colour.value != "green"
        for reason in dim.reasons
    ]
    return body


async def current_light(conn: asyncpg.Connection, schema: str, project_id: str) -> StatusLightChanged | None:
    state, _ = await LIGHTS.load_row(conn, schema, project_id)
    return state.current if isinstance(state, LightState) else None


async def light_history(
    conn: asyncpg.Connection, schema: str, project_id: str, *, limit: int, offset: int
) -> tuple[list[dict[str, Any]], int]:
    rows = await conn.fetch(
        f"SELECT seq, payload, recorded_at FROM {schema}.light_history WHERE project_id = $1 ORDER BY seq"
        " LIMIT $2 OFFSET $3",
        project_id, limit, offset,
    )  # fmt: skip
    total = await conn.fetchval(f"SELECT count(*) FROM {schema}.light_history WHERE project_id = $1", project_id)
    items = [
        history_item(StatusLightChanged.model_validate_json(r["payload"]), r["seq"], r["recorded_at"]) for r in rows
    ]
    return items, int(total)


def history_item(changed: StatusLightChanged, seq: int, recorded_at: datetime) -> dict[str, Any]:
    """One entry of a light's history (a row of `light_history`, or its event read from the log for `as_of`)."""
    return {**(light_public(changed) or {}), "seq": seq, "recorded_at": recorded_at.isoformat()}


LIGHTS_WHERE = (
    "FROM {s}.project_directory j LEFT JOIN {s}.lights l ON l.id = j.id"
    " WHERE ($1::text IS NULL OR j.programme_id = $1) AND ($2::text IS NULL OR l.colour = $2)"
    " AND ($3::text IS NULL OR j.category = $3) AND ($4::text IS NULL OR j.unit_id = $4)"
    " AND ($5::text IS NULL OR j.sponsor_leader_id = $5)"
)


async def programme_lights(
    conn: asyncpg.Connection,
    schema: str,
    *,
    programme_id: str | None,
    colour: str | None,
    category: str | None,
    unit_id: str | None,
    sponsor_id: str | None,
    limit: int | None = None,
    offset: int = 0,
) -> list[dict[str, Any]]:
    """Projects with their current light, by project id (all of them unless `limit`)."""
    rows = await conn.fetch(
        f"SELECT j.id, j.name, j.category, j.unit_id, j.sponsor_leader_id, j.phase, l.state"
        f" {LIGHTS_WHERE.format(s=schema)} ORDER BY j.id LIMIT $6 OFFSET $7",
        programme_id, colour, category, unit_id, sponsor_id, limit, offset,
    )  # fmt: skip
    out = []
    for r in rows:
        light = LightState.model_validate_json(r["state"]).current if r["state"] else None
        out.append(
            {"project_id": r["id"], "name": r["name"], "category": r["category"], "unit_id": r["unit_id"],
             "sponsor_leader_id": r["sponsor_leader_id"], "phase": r["phase"], "light": light_public(light)}
        )  # fmt: skip
    return out


async def count_lights(
    conn: asyncpg.Connection,
    schema: str,
    *,
    programme_id: str | None,
    colour: str | None,
    category: str | None,
    unit_id: str | None,
    sponsor_id: str | None,
) -> int:
    """How many projects `programme_lights` lists with these filters."""
    total = await conn.fetchval(
        f"SELECT count(*) {LIGHTS_WHERE.format(s=schema)}", programme_id, colour, category, unit_id, sponsor_id
    )
    return int(total)
