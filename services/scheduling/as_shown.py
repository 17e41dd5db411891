"""Lights "as shown on D": what the monitoring of day D (and any re-evaluation that day) recorded, never recomputed.

A light event carries the platform's day it was recorded on (`recorded_on`; older events have only `as_of`, the day
it was evaluated for, which then stands for it) and the rule version it was judged under. (The envelope's
`recorded_at` is on the same platform clock since docs/adr/0017; events written before that carry the wall clock's
time, so the payload's day stays the one to go by.) So the light shown on D is the last light (in stream order)
recorded on D or before: a run for an earlier day that was recorded after D was not shown on D. The answer is the
recorded event itself: reasons and rule version as they were, even when the rules or the data changed since.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import asyncpg

from services.scheduling.queries_lights import light_public
from shared.catalogue.scheduling import StatusLightChanged


@dataclass(frozen=True)
class ShownLight:
    light: StatusLightChanged
    seq: int  # the stream sequence of the light event
    recorded_at: datetime  # when the event was written (the writer's platform clock, docs/adr/0017)

    @property
    def colour(self) -> str:
        return self.light.colour.value

    @property
    def reasons(self) -> list[str]:
        public = light_public(self.light)
        return list(public["reasons"]) if public else []

    def public(self, day: date) -> dict[str, Any]:
        body = light_public(self.light) or {}
        return {**body, "as_shown_on": day.isoformat(), "seq": self.seq, "recorded_at": self.recorded_at.isoformat()}


async def lights_as_shown(
    conn: asyncpg.Connection, schema: str, day: date, project_ids: list[str] | None = None
) -> dict[str, ShownLight]:
    """The light each project showed on `day` (projects not lit by then are absent), by project id."""
    rows = await conn.fetch(
        f"SELECT DISTINCT ON (project_id) project_id, seq, payload, recorded_at FROM {schema}.light_history"
        " WHERE coalesce((payload->>'recorded_on')::date, as_of) <= $1 AND ($2::text[] IS NULL OR project_id = ANY($2))"
        " ORDER BY project_id, seq DESC",
        day, project_ids,
    )  # fmt: skip
    return {
        r["project_id"]: ShownLight(StatusLightChanged.model_validate_json(r["payload"]), r["seq"], r["recorded_at"])
        for r in rows
    }
