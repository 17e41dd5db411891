"""Fresh real servers for one benchmark run."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import asyncpg

from shared.devstack.embedded import start_nats, start_postgres
from shared.devstack.pg_home import discard_data
from shared.provision import StreamLayout, provision_at
from shared.settings import Settings


@asynccontextmanager
async def bench_settings() -> AsyncIterator[Settings]:
    root = Path(tempfile.mkdtemp(prefix="tiaodu-bench-"))
    nats_server, pg_server = start_nats(root / "nats"), start_postgres(root / "pg")
    try:
        conn = await asyncpg.connect(pg_server.url)
        await conn.execute("CREATE DATABASE bench")
        await conn.close()
        settings = Settings(nats_url=nats_server.url, database_url=pg_server.url.rsplit("/", 1)[0] + "/bench")
        await provision_at(settings.nats_url, StreamLayout.of(settings))
        yield settings
    finally:
        nats_server.stop()
        pg_server.stop()
        discard_data(root / "pg")
        shutil.rmtree(root, ignore_errors=True)
