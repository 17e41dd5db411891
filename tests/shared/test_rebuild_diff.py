"""The rebuild diff names the rows that differ (key and columns), through `/v1/audit/rebuild-diffs/intake`: hq starts
a run, hq and the auditor read it, nobody else; one run at a time. Needs the suite's NATS and PostgreSQL."""

from __future__ import annotations

from typing import Any

import asyncpg
import httpx

from services.intake.bootstrap import create_app as create_intake
from services.intake.bootstrap import read_model
from shared.rebuild import diff_schemas, rebuild
from shared.rebuild_diff import diff_rows
from shared.settings import Settings
from tests.contract.answers import answer_schema, schema_errors
from tests.platform import auth, bootstrap_and_wait, project_body, running, runtime_of, wait_until
from tests.shared.access_platform import access_events, record_of

PATH = "/v1/audit/rebuild-diffs/intake"


async def _finished(client: httpx.AsyncClient, token: str) -> dict[str, Any]:
    answer: dict[str, Any] = {}

    async def done() -> bool:
        r = await client.get(PATH, headers=auth(token))
        assert r.status_code == 200, r.text
        answer.update(r.json())
        return bool(answer["state"] != "running")

    await wait_until(done, timeout=120, what="the rebuild diff to finish")
    return answer


async def test_a_corrupted_row_is_named_by_key_and_column(settings: Settings) -> None:
    app = create_intake(settings)
    async with running(app) as client:
        rt = runtime_of(app)
        tokens = await bootstrap_and_wait(rt)
        hq = auth(tokens["hq"])
        r = await client.post("/v1/programmes", json={"id": "prog", "name": "2024 三十工程", "year": 2024}, headers=hq)
        assert r.status_code == 201, r.text
        assert await rt.runner.wait_for(await rt.store.last_seq(), 10)
        r = await client.post("/v1/projects", json=project_body(), headers=hq)
        assert r.status_code == 201, r.text
        project_id = r.json()["id"]
        assert await rt.runner.wait_for(await rt.store.last_seq(), 10)

        # Who may: hq and the auditor read, only hq starts; nothing to read before a first run.
        assert (await client.get(PATH, headers=hq)).status_code == 404
        assert (await client.get(PATH, headers=auth(tokens["auditor"]))).status_code == 404
        for org in ("unit-a", "leader-a", "supervision"):
            assert (await client.get(PATH, headers=auth(tokens[org]))).status_code == 403, org
        for org in ("auditor", "unit-a", "leader-a"):
            assert (await client.post(PATH, headers=auth(tokens[org]))).status_code == 403, org

        r = await client.post(PATH, headers=hq)
        assert r.status_code == 202, r.text
        assert r.json()["state"] == "running" and r.json()["requested_by"] == "hq"
        first = await _finished(client, tokens["auditor"])
        assert (first["state"], first["identical"], first["tables"]) == ("done", True, []), first
        assert first["until_seq"] >= 1 and first["dead_lettered"] == 0

        # Corrupt the live read model: one column of one row changed, one row gone.
        async with rt.pool.acquire() as conn:
            await conn.execute(f"UPDATE {rt.schema}.projects SET name = 'tampered' WHERE id = $1", project_id)
            await conn.execute(f"DELETE FROM {rt.schema}.organisations WHERE id = 'unit-b'")
        r = await client.post(PATH, headers=hq)
        assert r.status_code == 202, r.text
        second = await _finished(client, tokens["hq"])
        assert second["state"] == "done" and second["identical"] is False and second["id"] == first["id"] + 1
        tables = {t["table"]: t for t in second["tables"]}
        assert set(tables) == {"projects", "organisations"}
        projects = tables["projects"]
        assert (projects["key_columns"], projects["changed"], projects["total"]) == (["id"], 1, 1)
        [row] = projects["rows"]
        assert (row["kind"], row["key"]) == ("changed", {"id": project_id})
        assert row["columns"] == [{"column": "name", "live": "tampered", "rebuilt": "测试项目"}]
        organisations = tables["organisations"]
        assert (organisations["rebuilt_only"], organisations["live_only"], organisations["changed"]) == (1, 0, 0)
        # The answer, a whole row included, is what the OpenAPI document says it is.
        document = (await client.get("/openapi.json")).json()
        schema = answer_schema(document, "get", PATH, 200)
        assert schema is not None and schema_errors(document, schema, second) == []
        [gone] = organisations["rows"]
        assert (gone["kind"], gone["key"], gone["row"]["role"]) == ("rebuilt_only", {"id": "unit-b"}, "unit")

        # The auditor's reads of the result are in the access log too.
        reads = [record_of(e) for e in await access_events(rt.store)]
        assert reads and {(a.route, a.service) for a in reads} == {(PATH, "intake")}


async def test_one_run_at_a_time(settings: Settings) -> None:
    app = create_intake(settings)
    async with running(app) as client:
        rt = runtime_of(app)
        tokens = await bootstrap_and_wait(rt)
        # Another replica's run holds the lock: this one refuses.
        other = await asyncpg.connect(settings.database_url)
        try:
            await other.execute("SELECT pg_advisory_lock(hashtext($1))", f"tiaodu-rebuild-diff:{rt.schema}")
            r = await client.post(PATH, headers=auth(tokens["hq"]))
            assert r.status_code == 409, r.text
            assert r.headers["content-type"] == "application/problem+json"
        finally:
            await other.close()  # that replica gone: its lock with it
        assert (await client.post(PATH, headers=auth(tokens["hq"]))).status_code == 202
        assert (await _finished(client, tokens["hq"]))["identical"] is True


async def test_rows_beyond_the_limit_are_counted_not_named(settings: Settings) -> None:
    app = create_intake(settings)
    async with running(app) as client:
        rt = runtime_of(app)
        await bootstrap_and_wait(rt)
        assert client is not None
        result = await rebuild(rt.pool, rt.store, read_model(), "intake_limit_rebuild")
        assert result.dead_lettered == 0
        async with rt.pool.acquire() as conn:
            await conn.execute(f"UPDATE {rt.schema}.credentials SET label = 'changed'")
            changed = await conn.fetchval(f"SELECT count(*) FROM {rt.schema}.credentials")
        [credentials] = await diff_rows(rt.pool, read_model(), rt.schema, "intake_limit_rebuild", limit=2)
        assert (credentials.table, credentials.changed, credentials.total, len(credentials.rows)) == (
            "credentials", changed, changed, 2)  # fmt: skip
        keys = [row.key["credential_id"] for row in credentials.rows]
        assert keys == sorted(keys)
        assert all([(c.column, c.rebuilt) for c in row.columns] == [("label", "test")] for row in credentials.rows)
        # The counting comparison its existing callers use still says the same.
        assert await diff_schemas(rt.pool, read_model(), rt.schema, "intake_limit_rebuild") == {
            "credentials": 2 * changed
        }
