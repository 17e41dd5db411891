"""Fresh real servers for one benchmark run: NATS with a user per service (as `make run` has it) and PostgreSQL.

Services run with their own NATS users, so the bench pays the same permission checks a deployment does; what
only an administrator may do (provision the stream, write any aggregate's events, replay the whole log through an
ordered consumer) runs as `admin`.
"""

from __future__ import annotations

import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from pathlib import Path

import asyncpg

from shared.devstack.embedded import Server, start_nats, start_postgres
from shared.devstack.nats_config import ADMIN, local_passwords, render_server_config
from shared.devstack.pg_home import discard_data, remove_detached
from shared.provision import StreamLayout, provision_at
from shared.settings import Settings

DATABASE = "bench"


@dataclass(frozen=True)
class BenchServers:
    root: Path
    nats: Server
    postgres: Server
    passwords: dict[str, str]
    settings: Settings  # the admin's settings, database `bench`

    @property
    def pg_base(self) -> str:
        """The server's URL without a database (append `/<name>`)."""
        return self.postgres.url.rsplit("/", 1)[0]

    def as_user(self, user: str) -> Settings:
        return replace(self.settings, nats_user=user, nats_password=self.passwords[user])

    def service_env(self, service: str) -> dict[str, str]:
        """The environment a service process needs on these servers, with its own NATS user."""
        s = self.settings
        return {
            "NATS_URL": s.nats_url,
            "DATABASE_URL": s.database_url,
            "NATS_USER": service,
            "NATS_PASSWORD": self.passwords[service],
            "TIAODU_STREAM": s.stream,
            "TIAODU_SUBJECT_PREFIX": s.subject_prefix,
            "TIAODU_PARTITIONS": str(s.partitions),
        }

    async def create_database(self, name: str) -> str:
        conn = await asyncpg.connect(self.postgres.url)
        try:
            await conn.execute(f'CREATE DATABASE "{name}"')
        finally:
            await conn.close()
        return f"{self.pg_base}/{name}"


@asynccontextmanager
async def bench_servers() -> AsyncIterator[BenchServers]:
    root = Path(tempfile.mkdtemp(prefix="tiaodu-bench-"))
    passwords = local_passwords(root / "users.json")
    layout = StreamLayout()

    def config(port: int, store_dir: str) -> str:
        return render_server_config(
            passwords, port=port, store_dir=store_dir, stream=layout.stream, prefix=layout.prefix,
            partitions=layout.partitions,
        )  # fmt: skip

    nats_server = start_nats(root / "nats", config=config)
    pg_server = start_postgres(root / "pg")
    try:
        admin = Settings(
            nats_url=nats_server.url,
            database_url=pg_server.url.rsplit("/", 1)[0] + f"/{DATABASE}",
            nats_user=ADMIN,
            nats_password=passwords[ADMIN],
        )
        servers = BenchServers(root, nats_server, pg_server, passwords, admin)
        await servers.create_database(DATABASE)
        await provision_at(admin.nats_url, StreamLayout.of(admin), user=ADMIN, password=passwords[ADMIN])
        yield servers
    finally:
        nats_server.discard()
        pg_server.discard()
        discard_data(root / "pg", in_background=True)
        remove_detached([root])  # the NATS store: a folder per stream, thousands at the end of the suite


@asynccontextmanager
async def bench_settings() -> AsyncIterator[Settings]:
    """The admin's settings on fresh servers (for small in-process measurements)."""
    async with bench_servers() as servers:
        yield servers.settings
