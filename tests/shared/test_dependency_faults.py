"""NATS and PostgreSQL SIGKILLed under load and restarted; clients told 503 with Retry-After while they are away.

Each test starts its own server of the kind it kills (the suite's others are shared), runs intake (in this process,
called through its ASGI app: the service directly, no gateway) and the counting projection (tests/shared/counting:
a read model where an event applied twice or never shows), SIGKILLs the server in the middle of the work, checks
what clients get while it is down, restarts it on the same port and data folder, and counts afterwards: every
acknowledged command is in the log once, the counting projection applied every event of the log exactly once in
version order, intake's read model equals a rebuild of it from the log (rebuild diff empty), nothing is parked.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import signal
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import asyncpg
import httpx

from services.intake.bootstrap import create_app, read_model
from shared.devstack.embedded import Server, start_nats, start_postgres
from shared.devstack.pg_home import discard_data
from shared.envelope import parse_envelope
from shared.provision import StreamLayout, provision_at
from shared.rebuild import diff_schemas, rebuild
from shared.runtime import Runtime
from shared.settings import Settings
from tests.platform import auth, bootstrap_and_wait, running, runtime_of, wait_until
from tests.shared.counting import assert_exactly_once, caught_up, counting_runtime, read_log_facts
from tests.shared.load import Writer

UNAVAILABLE_WITHIN_S = 5.0  # a client learns a dependency is away within this, never a hang
# A command already waiting on NATS when it died waits out JetStream's ack timeout (5 s); one that starts after the
# client library noticed (at once: the socket closed) is refused without a round trip (EventStore.require_connected).
IN_FLIGHT_WITHIN_S = 7.0
NOTICED_WITHIN_S = 1.0
WORKERS = 6
COMMANDS_PER_WORKER = 25


def assert_unavailable(r: httpx.Response, elapsed: float, within: float = UNAVAILABLE_WITHIN_S) -> None:
    """The answer while a dependency is down: 503 problem+json with Retry-After, quickly, no stack trace."""
    assert r.status_code == 503, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert int(r.headers["retry-after"]) > 0
    assert "Traceback" not in r.text and "postgresql://" not in r.text and "nats://" not in r.text
    assert elapsed < within, f"answered after {elapsed:.1f}s"


def sigkill_tree(server: Server) -> None:
    """SIGKILL a server and every process it started (PostgreSQL's backends too), as a crashed host or an OOM kill
    of its container would: nothing shuts down cleanly."""
    pids = [server.proc.pid]
    for pid in pids:  # grows while walking: children of children
        try:
            pids += [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
        except FileNotFoundError:
            pass
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    server.proc.wait(10)


async def rebuild_diff(rt: Runtime) -> dict[str, int]:
    """intake's live read model against a rebuild from sequence 1 into a scratch schema: {} when they agree."""
    scratch = f"{rt.schema}_fault_rebuild"
    await rebuild(rt.pool, rt.store, read_model(), scratch, service=rt.service)
    return await diff_schemas(rt.pool, read_model(), rt.schema, scratch)


async def parked(rt: Runtime) -> int:
    async with rt.pool.acquire() as conn:
        return int(await conn.fetchval(f"SELECT count(*) FROM {rt.schema}._dead_letter"))


async def counted_exactly_once(counter: Runtime) -> None:
    facts = await read_log_facts(counter.store)
    await wait_until(lambda: caught_up(counter.pool, counter.schema, facts), 60, "the counting projection caught up")
    await assert_exactly_once(counter.pool, counter.schema, counter.store)


@asynccontextmanager
async def intake_and_counter(settings: Settings) -> AsyncIterator[tuple[httpx.AsyncClient, Runtime, Runtime]]:
    app = create_app(dataclasses.replace(settings, replica_id="intake-1"))
    async with (
        running(app) as client,
        counting_runtime(dataclasses.replace(settings, replica_id="counter-1")) as counter,
    ):
        counter.runner.batch = 50  # before its projection first runs: small batches, so a kill lands inside one
        yield client, runtime_of(app), counter


async def test_nats_sigkilled_under_a_load_of_commands_loses_no_acknowledged_command(
    settings: Settings, tmp_path: Path
) -> None:
    """Six clients register programmes (each with an Idempotency-Key, retried with the same key until answered
    201). After 30 acknowledgements NATS is SIGKILLed; while it is down commands are answered 503 with Retry-After
    (those in flight at the kill within JetStream's 5 s ack timeout, later ones at once); it restarts on the same
    port and store folder and the load finishes. Then: each acknowledged programme is in the log once, at the
    sequence its acknowledgement named; the counting projection applied every event exactly once; intake's read
    model equals its rebuild; nothing parked."""
    nats_server = start_nats(tmp_path / "nats")
    try:
        settings = dataclasses.replace(settings, nats_url=nats_server.url)
        await provision_at(settings.nats_url, StreamLayout.of(settings))
        async with intake_and_counter(settings) as (client, rt, counter):
            hq = (await bootstrap_and_wait(rt))["hq"]
            acked: dict[str, int] = {}  # programme id -> the seq its 201 named
            refused: list[tuple[float, float]] = []  # (when each refused command began, how long its 503 took)
            killed = float("inf")

            async def register(worker: int) -> None:
                for n in range(COMMANDS_PER_WORKER):
                    key = f"w{worker}-{n}"
                    body = {"id": f"prog-{key}", "name": f"批次 {key}", "year": 2024}
                    while True:
                        began = time.monotonic()
                        r = await client.post("/v1/programmes", json=body, headers=auth(hq, **{"Idempotency-Key": key}))
                        if r.status_code == 201:
                            acked[body["id"]] = r.json()["seq"]
                            break
                        assert_unavailable(r, time.monotonic() - began, IN_FLIGHT_WITHIN_S)
                        refused.append((began, time.monotonic() - began))
                        await asyncio.sleep(0.1)

            def begun_later() -> int:
                """Refusals of commands begun a second after the kill, the ones timed below. Those in flight at the
                kill may be refused within milliseconds too (nats-py sees the socket close): restarting NATS after a
                count of any refusals could come before a single later one had begun."""
                return sum(1 for began, _ in refused if began > killed + NOTICED_WITHIN_S)

            load = asyncio.gather(*(register(w) for w in range(WORKERS)))
            try:
                await wait_until(lambda: _at_least(len(acked), 30), 60, "30 commands acknowledged")
                sigkill_tree(nats_server)
                killed, killed_at = time.monotonic(), len(acked)
                await wait_until(lambda: _at_least(begun_later(), 2 * WORKERS), 30, "commands refused while away")
                nats_server = start_nats(tmp_path / "nats", port=nats_server.port)
                await asyncio.wait_for(load, 120)
            finally:
                load.cancel()
            assert killed_at < WORKERS * COMMANDS_PER_WORKER and len(acked) == WORKERS * COMMANDS_PER_WORKER
            noticed = [took for began, took in refused if began > killed + NOTICED_WITHIN_S]
            assert noticed and max(noticed) < NOTICED_WITHIN_S, noticed

            in_log: dict[str, list[int]] = {}
            async for chunk in rt.store.read_log(1):
                for seq, _, data in chunk:
                    envelope = parse_envelope(data)
                    if envelope.aggregate_type == "programme":
                        in_log.setdefault(envelope.aggregate_id, []).append(seq)
            assert {pid: [seq] for pid, seq in acked.items()} == in_log  # each once, where its answer said

            assert await rt.runner.wait_for(await rt.store.last_seq(), 60)
            await counted_exactly_once(counter)
            assert await rebuild_diff(rt) == {}
            assert await parked(rt) == 0
    finally:
        nats_server.stop()


async def test_postgres_sigkilled_during_projection_batches_resumes_from_checkpoints(
    settings: Settings, tmp_path: Path
) -> None:
    """Sound intake events are written straight to the log at a steady rate while intake's projection and the
    counting projection (batches of 50) apply them; PostgreSQL and all its backends are SIGKILLed while a batch
    transaction is open. While it is down a read is answered 503 with Retry-After within 5 s. It restarts on the
    same port and data folder (crash recovery); the projections resume from their checkpoints: the counting one
    applied every event exactly once in version order, intake's read model equals its rebuild, nothing parked."""
    pg_server = start_postgres(tmp_path / "pg")
    try:
        conn = await asyncpg.connect(pg_server.url)
        await conn.execute("CREATE DATABASE faults")
        await conn.close()
        database_url = pg_server.url.rsplit("/", 1)[0] + "/faults"
        settings = dataclasses.replace(settings, database_url=database_url)
        async with intake_and_counter(settings) as (client, rt, counter):
            hq = (await bootstrap_and_wait(rt))["hq"]
            r = await client.post("/v1/programmes", json={"id": "prog", "name": "计划", "year": 2024}, headers=auth(hq))
            assert r.status_code == 201, r.text
            writer = Writer(rt.store, 40)
            await writer.register_all()
            load = asyncio.create_task(writer.steady(1500, per_second=150))
            try:
                watcher = await asyncpg.connect(database_url)
                try:
                    await wait_until(lambda: _batch_open(watcher), 30, "a projection batch transaction open")
                finally:
                    watcher.terminate()
                sigkill_tree(pg_server)
                assert not load.done(), "the kill must land while events are still being written"
                for _ in range(3):
                    began = time.monotonic()
                    r = await client.get("/v1/programmes/prog", headers=auth(hq))
                    assert_unavailable(r, time.monotonic() - began)
                pg_server = start_postgres(tmp_path / "pg", port=pg_server.port)
                await asyncio.wait_for(load, 120)
            finally:
                load.cancel()
            assert await rt.runner.wait_for(await rt.store.last_seq(), 60)
            await counted_exactly_once(counter)
            assert await rebuild_diff(rt) == {}
            assert await parked(rt) == 0
            assert (await client.get("/v1/programmes/prog", headers=auth(hq))).status_code == 200
    finally:
        pg_server.stop()
        discard_data(tmp_path / "pg")


async def _at_least(value: int, floor: int) -> bool:
    return value >= floor


async def _batch_open(watcher: asyncpg.Connection) -> bool:
    """Some backend other than this one holds a transaction that has written: a batch is being applied."""
    found = await watcher.fetchval(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND backend_xid IS NOT NULL"
        " AND pid <> pg_backend_pid()"
    )
    return bool(found)
