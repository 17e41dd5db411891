"""Who answers for each project: a read-model part any service folds from intake's project events.

project -> name, programme, category, phase, responsible unit, sponsoring leader, task force (lead and member
units). Services decide their policies on it (a unit writes only its own projects, a leader sees what it
sponsors, a task-force unit is involved) instead of each keeping a copy of these facts. It is one table,
`project_directory`, in the schema of the service that includes the part in its read model.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import asyncpg
from pydantic import BaseModel, Field

from shared.aggregate_table import AggregateTable
from shared.catalogue import CATALOGUE
from shared.catalogue.intake import (
    Category,
    Phase,
    ProjectDetailsAmended,
    ProjectPhaseChanged,
    ProjectRegistered,
    SponsorAssigned,
    TaskForce,
    TaskForceAssigned,
)
from shared.ddl import lock_free_when_done
from shared.eventstore import StoredEvent


class ProjectEntry(BaseModel):
    project_id: str
    name: str
    programme_id: str
    category: Category
    phase: Phase
    unit_id: str
    sponsor_leader_id: str | None = None
    task_force_lead: str | None = None  # org id of the task force's lead
    task_force_units: list[str] = Field(default_factory=list)  # org ids of lead and members, each once

    def involves(self, org_id: str) -> bool:
        """The organisation answers for the project: its unit, its sponsor, or a unit of its task force."""
        return org_id in {self.unit_id, self.sponsor_leader_id, *self.task_force_units}


def _task_force_units(task_force: TaskForce | None) -> tuple[str | None, list[str]]:
    if task_force is None:
        return None, []
    orgs = [task_force.lead.org_id, *(m.org_id for m in task_force.members)]
    return task_force.lead.org_id, list(dict.fromkeys(orgs))


def _registered(_: ProjectEntry | None, project_id: str, p: ProjectRegistered) -> ProjectEntry:
    lead, units = _task_force_units(p.task_force)
    return ProjectEntry(
        project_id=project_id, name=p.name, programme_id=p.programme_id, category=p.category, phase=p.phase,
        unit_id=p.unit_id, sponsor_leader_id=p.sponsor_leader_id, task_force_lead=lead, task_force_units=units,
    )  # fmt: skip


def _amended(entry: ProjectEntry, p: ProjectDetailsAmended) -> ProjectEntry:
    return entry if p.name is None else entry.model_copy(update={"name": p.name})


def _task_force(entry: ProjectEntry, p: TaskForceAssigned) -> ProjectEntry:
    lead, units = _task_force_units(p.task_force)
    return entry.model_copy(update={"task_force_lead": lead, "task_force_units": units})


def _sponsor(entry: ProjectEntry, p: SponsorAssigned) -> ProjectEntry:
    return entry.model_copy(update={"sponsor_leader_id": p.sponsor_leader_id})


def _phase(entry: ProjectEntry, p: ProjectPhaseChanged) -> ProjectEntry:
    return entry.model_copy(update={"phase": p.to_phase})


# Event type -> how it changes an existing entry; every other project event (progress reports...) leaves it be.
CHANGES: dict[str, Callable[[ProjectEntry, Any], ProjectEntry]] = {
    "ProjectDetailsAmended": _amended,
    "TaskForceAssigned": _task_force,
    "SponsorAssigned": _sponsor,
    "ProjectPhaseChanged": _phase,
}


def evolve_entry(entry: ProjectEntry | None, event: StoredEvent) -> ProjectEntry:
    env = event.envelope
    if env.type == "ProjectRegistered":
        return _registered(entry, env.aggregate_id, ProjectRegistered.model_validate(env.payload))
    if entry is None:
        raise ValueError(f"{env.type} before ProjectRegistered for {env.aggregate_id}")
    change = CHANGES.get(env.type)
    if change is None:
        return entry
    return change(entry, CATALOGUE.payload_of(event))


DIRECTORY = AggregateTable(
    "project_directory", "project", ProjectEntry, evolve_entry,
    {
        "programme_id": ("text", lambda e: e.programme_id), "name": ("text", lambda e: e.name),
        "category": ("text", lambda e: e.category.value), "phase": ("text", lambda e: e.phase.value),
        "unit_id": ("text", lambda e: e.unit_id), "sponsor_leader_id": ("text", lambda e: e.sponsor_leader_id),
        "task_force_units": ("text[]", lambda e: e.task_force_units),
    },
)  # fmt: skip

INDEXES = """
CREATE INDEX IF NOT EXISTS project_directory_programme ON {s}.project_directory (programme_id, category);
CREATE INDEX IF NOT EXISTS project_directory_unit ON {s}.project_directory (unit_id);
CREATE INDEX IF NOT EXISTS project_directory_sponsor ON {s}.project_directory (sponsor_leader_id);
CREATE INDEX IF NOT EXISTS project_directory_task_force ON {s}.project_directory USING gin (task_force_units);
"""


class ProjectDirectory:
    """The read-model part (same protocol as `shared.projection.ReadModel`)."""

    tables = (DIRECTORY.table,)

    async def create_tables(self, conn: asyncpg.Connection, schema: str) -> None:
        await conn.execute(lock_free_when_done(DIRECTORY.ddl(schema) + INDEXES.format(s=schema)))

    async def apply(self, conn: asyncpg.Connection, schema: str, events: Sequence[StoredEvent]) -> None:
        await DIRECTORY.apply(conn, schema, events)


# -- queries ----------------------------------------------------------------------------------------------------


async def project_entry(conn: asyncpg.Connection, schema: str, project_id: str) -> ProjectEntry | None:
    entry, _ = await DIRECTORY.load_row(conn, schema, project_id)
    return entry


async def project_entries(conn: asyncpg.Connection, schema: str, project_ids: Sequence[str]) -> dict[str, ProjectEntry]:
    return await DIRECTORY.load_states(conn, schema, project_ids)


async def find_projects(
    conn: asyncpg.Connection,
    schema: str,
    *,
    programme_id: str | None = None,
    unit_id: str | None = None,
    sponsor_leader_id: str | None = None,
    task_force_unit: str | None = None,
    category: str | None = None,
    phases: Sequence[str] | None = None,
) -> list[ProjectEntry]:
    """Projects matching every filter given (None: any), ordered by id."""
    rows = await conn.fetch(
        f"SELECT state FROM {schema}.project_directory WHERE ($1::text IS NULL OR programme_id = $1)"
        " AND ($2::text IS NULL OR unit_id = $2) AND ($3::text IS NULL OR sponsor_leader_id = $3)"
        " AND ($4::text IS NULL OR task_force_units @> ARRAY[$4]) AND ($5::text IS NULL OR category = $5)"
        " AND ($6::text[] IS NULL OR phase = ANY($6)) ORDER BY id",
        programme_id, unit_id, sponsor_leader_id, task_force_unit, category, list(phases) if phases else None,
    )  # fmt: skip
    return [ProjectEntry.model_validate_json(r["state"]) for r in rows]


async def projects_of_unit(conn: asyncpg.Connection, schema: str, unit_id: str) -> list[ProjectEntry]:
    """The projects a unit is responsible for."""
    return await find_projects(conn, schema, unit_id=unit_id)


async def projects_sponsored_by(conn: asyncpg.Connection, schema: str, leader_id: str) -> list[ProjectEntry]:
    return await find_projects(conn, schema, sponsor_leader_id=leader_id)


async def projects_involving(conn: asyncpg.Connection, schema: str, org_id: str) -> list[ProjectEntry]:
    """Every project the organisation answers for (responsible unit, sponsor or task-force unit)."""
    rows = await conn.fetch(
        f"SELECT state FROM {schema}.project_directory WHERE unit_id = $1 OR sponsor_leader_id = $1"
        " OR task_force_units @> ARRAY[$1] ORDER BY id",
        org_id,
    )
    return [ProjectEntry.model_validate_json(r["state"]) for r in rows]
