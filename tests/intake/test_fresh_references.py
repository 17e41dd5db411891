"""A registration names a programme and organisations registered a moment before, which the read model may not show
yet (the projection batches for up to 40 ms): the log decides, so a client's script that registers a programme and
then its projects is never told the programme does not exist.

The test makes the lag certain rather than likely: it holds an EXCLUSIVE lock on the read model's `programmes` and
`organisations` tables (reads go on, the projection's writes wait), so the rows are not there when the project is
registered; it checks they are not, then releases the lock and sees the projection catch up.
"""

from __future__ import annotations

import asyncpg

from services.intake import queries
from tests.intake.conftest import Intake
from tests.platform import auth, project_body


async def test_a_project_naming_a_programme_and_a_unit_the_read_model_has_not_folded_yet_is_registered(
    intake: Intake,
) -> None:
    rt = intake.runtime
    hq, admin = auth(intake.tokens["hq"]), auth(intake.tokens["admin"])
    lock = await asyncpg.connect(rt.settings.database_url)
    try:
        tx = lock.transaction()
        await tx.start()
        await lock.execute(f"LOCK TABLE {rt.schema}.programmes, {rt.schema}.organisations IN EXCLUSIVE MODE")
        r = await intake.client.post("/v1/programmes", json={"id": "prog-2025", "name": "2025 三十工程", "year": 2025},
                                     headers=hq)  # fmt: skip
        assert r.status_code == 201, r.text
        r = await intake.client.post("/v1/organisations", json={"id": "unit-new", "name": "新责任单位", "role": "unit"},
                                     headers=admin)  # fmt: skip
        assert r.status_code == 201, r.text
        assert await queries.programme_year(rt.pool, rt.schema, "prog-2025") is None  # the read model lags here
        assert await queries.organisation_role(rt.pool, rt.schema, "unit-new") is None

        body = project_body(programme_id="prog-2025", unit_id="unit-new", name="新批次项目")
        r = await intake.client.post("/v1/projects", json=body, headers=hq)
        assert r.status_code == 201, r.text

        # What does not exist in the log either is still refused, naming the field.
        r = await intake.client.post("/v1/projects", json=project_body(programme_id="prog-none"), headers=hq)
        assert r.status_code == 422, r.text
        assert [e["field"] for e in r.json()["errors"]] == ["programme_id"]
        r = await intake.client.post("/v1/projects", json=project_body(unit_id="leader-a"), headers=hq)
        assert r.status_code == 422, r.text  # an organisation of another role
        assert [e["field"] for e in r.json()["errors"]] == ["unit_id"]
        await tx.rollback()
    finally:
        await lock.close()
    assert await rt.runner.wait_for(await rt.store.last_seq(), 10)
    assert await queries.programme_year(rt.pool, rt.schema, "prog-2025") == 2025
