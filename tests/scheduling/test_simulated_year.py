"""A simulated 2024 over the 30 demo projects: the injected clock moves day by day, units report weekly at
different paces (on Friday morning, before the 17:00 deadline), and the daily monitoring runs every day, as the
service's loop would."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pytest

from services.intake.demo_data import PROJECTS
from services.intake.seed import project_body
from services.scheduling.seed import PACES, plan_for
from shared.clock import today
from shared.rebuild import diff_schemas, rebuild
from tests.platform import auth
from tests.scheduling.conftest import Platform


@pytest.mark.timeout(600)  # 366 days of monitoring on the injected clock, one by one
async def test_a_simulated_year_lights_every_colour_with_reasons(platform: Platform) -> None:
    from services.scheduling.bootstrap import read_model

    hq = auth(platform.tokens["hq"])
    projects = []
    for category, rows in PROJECTS.items():
        for index, row in enumerate(rows):
            body = {**project_body(category, index, row), "programme_id": "prog", "unit_id": "unit-a",
                    "sponsor_leader_id": "leader-a", "code": None}  # fmt: skip
            r = await platform.intake.post("/v1/projects", json=body, headers=hq)
            assert r.status_code == 201, r.text
            projects.append({**body, "id": r.json()["id"]})
    await platform.synced()
    paces = {}
    for index, project in enumerate(projects):
        plan = plan_for(project, index)
        r = await platform.scheduling.post("/v1/plans", json=plan, headers=hq)
        assert r.status_code == 201, r.text
        paces[project["id"]] = (PACES[index % len(PACES)], plan)
    await platform.synced()

    pending = {pid: sorted((m["planned_date"], i, m["milestone_id"]) for i, m in enumerate(plan["milestones"]))
               for pid, (_, plan) in paces.items()}  # fmt: skip
    started: set[str] = set()

    async def report(project: dict[str, Any], day: date) -> None:
        (pace, silent), plan = paces[project["id"]]
        start = date.fromisoformat(project["planned_start"])
        if pace == 0 or day < start or (silent and day > date(2024, 8, 1)):
            return
        if project["id"] not in started:
            start_body = {"phase": "under_construction", "reason": "开工"}
            r = await platform.intake.post(f"/v1/projects/{project['id']}/phase", json=start_body, headers=hq)
            assert r.status_code in (200, 409), r.text  # 409: registered already under construction
            started.add(project["id"])
        invest = Decimal(plan["monthly_investment"][day.month - 1]) * 7 / 30 * pace
        due = [m for m in pending[project["id"]] if m[0] <= day.isoformat() and (pace >= Decimal("0.5") or m[1] < 5)]
        pending[project["id"]] = [m for m in pending[project["id"]] if m not in due]
        r = await platform.intake.post(
            f"/v1/projects/{project['id']}/progress-reports",
            json={"period_start": (day - timedelta(days=6)).isoformat(), "period_end": day.isoformat(),
                  "investment_this_period": str(invest.quantize(Decimal("0.01"))), "image_progress_pct": "10",
                  "milestones_done": [{"milestone_id": i, "done_on": min(d, day.isoformat())} for d, _, i in due]},
            headers=hq,
        )  # fmt: skip
        assert r.status_code == 201, r.text

    platform.clock.set_day(date(2024, 1, 1))
    completed_days = 0
    while today(platform.clock) <= date(2024, 12, 31):
        day = today(platform.clock)
        if day.weekday() == 4:  # Friday: the week's reports, Saturday to Friday, on time, the units at once
            await asyncio.gather(*(report(project, day) for project in projects))
            await platform.synced()
        result = await platform.monitor(day)
        completed_days += not result.already_complete
        if day == date(2024, 9, 30):
            await platform.synced()
            lights = (await platform.scheduling.get("/v1/lights", headers=hq)).json()["items"]
            colours = Counter(p["light"]["colour"] for p in lights)
            assert set(colours) == {"green", "yellow", "red"}, colours
            for p in lights:
                if p["light"]["colour"] != "green":
                    assert p["light"]["reasons"], p
        platform.clock.set_day(day + timedelta(days=1))
    assert completed_days == 366
    await platform.synced()
    rt = platform.scheduling_rt
    async with rt.pool.acquire() as conn:
        assert (
            await conn.fetchval(
                f"SELECT count(*) FROM {rt.schema}.monitoring_days WHERE (state->>'completed')::boolean"
            )
            == 366
        )
        per_project = await conn.fetch(
            f"SELECT project_id, array_agg(as_of ORDER BY seq) AS days FROM {rt.schema}.light_history GROUP BY 1"
        )
    for row in per_project:
        assert row["days"] == sorted(set(row["days"]))  # recorded forward in time, at most once a day
    # Running a day again changes nothing; the read model follows from the log.
    again = await platform.monitor(date(2024, 6, 3), rt)
    assert again.already_complete and again.items_emitted == 0
    last = await rt.store.last_seq()
    await rebuild(rt.pool, rt.store, read_model(), "scheduling_rebuild", until_seq=last)
    assert await diff_schemas(rt.pool, read_model(), rt.schema, "scheduling_rebuild") == {}
