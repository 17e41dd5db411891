"""A NATS restart and a PostgreSQL restart under a running service: it reconnects, resumes, loses nothing."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx

from services.intake.bootstrap import create_app
from shared.devstack.embedded import start_nats, start_postgres
from shared.devstack.pg_home import discard_data
from shared.provision import StreamLayout, provision_at
from shared.settings import Settings
from tests.platform import auth, bootstrap_and_wait, project_body, running, runtime_of

WEEKS = {"1": ("2024-03-01", "2024-03-07"), "10": ("2024-03-08", "2024-03-14"), "100": ("2024-03-15", "2024-03-21")}


def report(amount: str) -> dict[str, str]:
    """The week's report (consecutive weeks: a project's periods may not overlap)."""
    start, end = WEEKS[amount]
    return {"period_start": start, "period_end": end, "image_progress_pct": "1", "investment_this_period": amount}


async def _post_until_accepted(client: httpx.AsyncClient, path: str, body: dict[str, str], token: str) -> int:
    """A client retrying with one Idempotency-Key until the platform is back: it must count once."""
    headers = auth(token, **{"Idempotency-Key": f"{path}-{body['investment_this_period']}"})
    for _ in range(200):
        try:
            r = await client.post(path, json=body, headers=headers)
        except httpx.HTTPError:
            r = None
        if r is not None and r.status_code == 201:
            seq: int = r.json()["seq"]
            return seq
        if r is not None:  # while a dependency is away: 503 with Retry-After, never a 500 or a stack trace
            assert r.status_code == 503 and r.headers["retry-after"], r.text
            assert r.headers["content-type"].startswith("application/problem+json")
        await asyncio.sleep(0.1)
    raise AssertionError(f"{path} never accepted: {r.text if r is not None else 'no answer'}")


async def test_service_survives_nats_and_postgres_restarts(tmp_path: Path) -> None:
    nats_server = start_nats(tmp_path / "nats")
    pg_server = start_postgres(tmp_path / "pg")
    try:
        settings = Settings(nats_url=nats_server.url, database_url=pg_server.url, replica_id="restart-test")
        await provision_at(settings.nats_url, StreamLayout.of(settings))
        app = create_app(settings)
        async with running(app) as client:
            rt = runtime_of(app)
            tokens = await bootstrap_and_wait(rt)
            r = await client.post(
                "/v1/programmes", json={"id": "prog", "name": "计划", "year": 2024}, headers=auth(tokens["hq"])
            )
            await client.get("/v1/programmes/prog", params={"min_seq": r.json()["seq"]}, headers=auth(tokens["hq"]))
            r = await client.post("/v1/projects", json=project_body(), headers=auth(tokens["hq"]))
            path = f"/v1/projects/{r.json()['id']}/progress-reports"
            await _post_until_accepted(client, path, report("1"), tokens["unit-a"])

            nats_server.stop()
            nats_server = start_nats(tmp_path / "nats", port=nats_server.port)
            await _post_until_accepted(client, path, report("10"), tokens["unit-a"])

            pg_server.stop()
            pg_server = start_postgres(tmp_path / "pg", port=pg_server.port)
            seq = await _post_until_accepted(client, path, report("100"), tokens["unit-a"])

            assert await rt.runner.wait_for(seq, 30)
            async with rt.pool.acquire() as conn:
                total = await conn.fetchval(
                    f"SELECT sum((state->>'investment_this_period')::numeric) FROM {rt.schema}.progress_reports"
                )
                parked = await conn.fetchval(f"SELECT count(*) FROM {rt.schema}._dead_letter")
            assert total == 111 and parked == 0
    finally:
        nats_server.stop()
        pg_server.stop()
        discard_data(tmp_path / "pg")
