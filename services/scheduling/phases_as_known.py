"""A project's phase as it was known at a moment (开工率 of a report dated D, docs/adr/0017).

The project directory holds the phase now; scheduling's read model keeps each phase change with its record time
(`phase_changes`). The phase then is the one the first change recorded after that moment changed from.
"""

from __future__ import annotations

from datetime import datetime

import asyncpg


async def phases_as_known(
    conn: asyncpg.Connection, schema: str, phases_now: dict[str, str], known_at: datetime
) -> dict[str, str]:
    """Project id -> phase at `known_at`, from each project's phase now (`phases_now`)."""
    rows = await conn.fetch(
        f"SELECT DISTINCT ON (project_id) project_id, from_phase FROM {schema}.phase_changes"
        " WHERE project_id = ANY($1) AND recorded_at > $2 ORDER BY project_id, seq",
        list(phases_now), known_at,
    )  # fmt: skip
    return {**phases_now, **{r["project_id"]: r["from_phase"] for r in rows}}
