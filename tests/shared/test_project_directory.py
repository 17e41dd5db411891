"""The shared project directory against real JetStream and PostgreSQL, fed by real intake events."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import date
from decimal import Decimal

import pytest
from pydantic import BaseModel

from shared.catalogue.intake import (
    Category,
    ConstructionType,
    Phase,
    ProgressReported,
    ProjectDetailsAmended,
    ProjectPhaseChanged,
    ProjectRegistered,
    SponsorAssigned,
    TaskForce,
    TaskForceAssigned,
    TaskForceMember,
)
from shared.eventstore import Position
from shared.project_directory import (
    ProjectDirectory,
    find_projects,
    project_entries,
    project_entry,
    projects_involving,
    projects_of_unit,
    projects_sponsored_by,
)
from shared.rebuild import diff_schemas, rebuild
from shared.runtime import CompositeReadModel, Runtime
from shared.settings import Settings
from tests.platform import SYSTEM_CTX


def registered(unit: str, *, sponsor: str | None = None, category: Category = Category.INDUSTRIAL) -> ProjectRegistered:
    return ProjectRegistered(
        programme_id="prog", name=f"{unit} 的项目", category=category, unit_id=unit, sponsor_leader_id=sponsor,
        location="马村区", construction_type=ConstructionType.NEW, total_investment=Decimal(1000),
        annual_planned_investment=Decimal(400), planned_start=date(2024, 3, 1), planned_completion=date(2025, 6, 30),
        task_force=TaskForce(lead=TaskForceMember(name="组长", org_id=unit),
                             members=[TaskForceMember(name="成员", org_id="unit-z")]),
    )  # fmt: skip


def read_model() -> CompositeReadModel:
    return CompositeReadModel([ProjectDirectory()])


@pytest.fixture
async def writer(settings: Settings) -> AsyncIterator[Runtime]:
    """Appends events before any projection runs, so that the first batch holds a project's whole life."""
    rt = await Runtime.start("directory", settings, read_model(), run_projection=False)
    try:
        yield rt
    finally:
        await rt.stop()


@asynccontextmanager
async def projecting(settings: Settings) -> AsyncIterator[Runtime]:
    rt = await Runtime.start("directory", settings, read_model())
    try:
        yield rt
    finally:
        await rt.stop()


async def _append(rt: Runtime, project_id: str, *payloads: BaseModel) -> int:
    position = Position()
    for payload in payloads:
        stored = await rt.store.append("project", project_id, payload, expected=position, context=SYSTEM_CTX)
        position = position.after(stored)
    return position.last_seq


async def _project_and_wait(rt: Runtime, seq: int) -> None:
    assert await rt.runner.wait_for(seq, 10), f"directory did not reach seq {seq}"


async def test_directory_folds_a_project_life_in_one_batch_and_later(settings: Settings, writer: Runtime) -> None:
    # Everything appended before the projection starts arrives in one batch: the fold must run in memory in order.
    await _append(
        writer, "p1", registered("unit-a", sponsor="leader-a"),
        ProjectDetailsAmended(name="改名后的项目"),
        ProjectPhaseChanged(from_phase=Phase.PRELIMINARY, to_phase=Phase.UNDER_CONSTRUCTION, reason="开工"),
        ProgressReported(report_id="r1", period_start=date(2024, 3, 1), period_end=date(2024, 3, 7),
                         investment_this_period=Decimal(10), cumulative_investment=Decimal(10),
                         image_progress_pct=Decimal(5)),
    )  # fmt: skip
    last = await _append(writer, "p2", registered("unit-b", category=Category.LIVELIHOOD))
    async with projecting(settings) as runtime:
        await _project_and_wait(runtime, last)
        await _check_directory(runtime)


async def _check_directory(runtime: Runtime) -> None:
    async with runtime.pool.acquire() as conn:
        p1 = await project_entry(conn, runtime.schema, "p1")
        assert p1 is not None
        assert (p1.name, p1.phase, p1.unit_id, p1.sponsor_leader_id) == (
            "改名后的项目", Phase.UNDER_CONSTRUCTION, "unit-a", "leader-a",
        )  # fmt: skip
        assert (p1.task_force_lead, p1.task_force_units) == ("unit-a", ["unit-a", "unit-z"])
        assert await project_entry(conn, runtime.schema, "nope") is None

    # Later events, one batch each: a new sponsor and a new task force replace the old ones.
    await _append_after(runtime, "p2", SponsorAssigned(sponsor_leader_id="leader-b"))
    seq = await _append_after(
        runtime, "p2",
        TaskForceAssigned(task_force=TaskForce(lead=TaskForceMember(name="组长", org_id="unit-c"),
                                               members=[TaskForceMember(name="成员", org_id="unit-c")])),
    )  # fmt: skip
    await _project_and_wait(runtime, seq)
    async with runtime.pool.acquire() as conn:
        p2 = await project_entry(conn, runtime.schema, "p2")
        assert p2 is not None and p2.sponsor_leader_id == "leader-b" and p2.task_force_units == ["unit-c"]
        assert p2.involves("unit-c") and p2.involves("unit-b") and not p2.involves("unit-z")
        assert [e.project_id for e in await projects_of_unit(conn, runtime.schema, "unit-a")] == ["p1"]
        assert [e.project_id for e in await projects_sponsored_by(conn, runtime.schema, "leader-b")] == ["p2"]
        assert [e.project_id for e in await projects_involving(conn, runtime.schema, "unit-z")] == ["p1"]
        assert [e.project_id for e in await projects_involving(conn, runtime.schema, "unit-c")] == ["p2"]
        assert [e.project_id for e in await find_projects(conn, runtime.schema, category="livelihood")] == ["p2"]
        assert [
            e.project_id
            for e in await find_projects(conn, runtime.schema, programme_id="prog", phases=["under_construction"])
        ] == ["p1"]
        assert set(await project_entries(conn, runtime.schema, ["p1", "p2", "p3"])) == {"p1", "p2"}

    # The directory follows from the log: a rebuild from sequence 1 gives the same rows.
    result = await rebuild(runtime.pool, runtime.store, read_model(), "directory_rebuilt")
    assert result.dead_lettered == 0
    assert await diff_schemas(runtime.pool, read_model(), runtime.schema, "directory_rebuilt") == {}


async def _append_after(rt: Runtime, project_id: str, payload: BaseModel) -> int:
    tail = await rt.store.read_aggregate("project", project_id)
    stored = await rt.store.append("project", project_id, payload, expected=Position().after(tail[-1]),
                                   context=SYSTEM_CTX)  # fmt: skip
    return stored.seq


async def test_an_event_before_registration_is_parked_not_applied(settings: Settings, writer: Runtime) -> None:
    seq = await _append(writer, "ghost", SponsorAssigned(sponsor_leader_id="leader-a"))
    async with projecting(settings) as runtime, runtime.pool.acquire() as conn:
        await _project_and_wait(runtime, seq)
        assert await project_entry(conn, runtime.schema, "ghost") is None
        reason = await conn.fetchval(f"SELECT reason FROM {runtime.schema}._dead_letter WHERE seq = $1", seq)
    assert reason is not None and "before ProjectRegistered" in reason
